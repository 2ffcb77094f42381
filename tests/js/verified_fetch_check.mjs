// Fetches content from chorus's trustless gateway with @helia/verified-fetch, which checks
// every block against its CID. Only the given gateway is used: no delegated routers, no libp2p.
// Usage: node verified_fetch_check.mjs http://127.0.0.1:PORT CID EXPECTED_FILE
// Prints "ok <n> bytes verified"; exits 1 on any mismatch.
import { readFile } from 'node:fs/promises'
import { createHeliaLight } from 'helia'
import { trustlessGatewayBlockBroker } from '@helia/trustless-gateway-client'
import { uriToMultiaddr } from '@multiformats/uri-to-multiaddr'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { createVerifiedFetchWithHelia } from '@helia/verified-fetch'

const [gateway, cid, expectedFile] = process.argv.slice(2)
// A router that names our gateway as the provider of everything (multicodec 0x0920 is
// transport-ipfs-gateway-http). Helia's own fallback router is not used: with no other router
// configured its provider search never starts.
const gatewayProvider = {
  id: CID.createV1(0x0920, identity.digest(new TextEncoder().encode(gateway))),
  multiaddrs: [uriToMultiaddr(gateway)],
  protocols: ['transport-ipfs-gateway-http'],
  router: 'chorus-gateway'
}
const chorusRouter = {
  name: 'chorus-gateway',
  async * findProviders () { yield gatewayProvider }
}
const helia = await createHeliaLight({
  blockBrokers: [trustlessGatewayBlockBroker({ allowLocal: true, allowInsecure: true })],
  routers: [chorusRouter]
}).start()
const verifiedFetch = await createVerifiedFetchWithHelia(helia)
const resp = await verifiedFetch(`ipfs://${cid}`)
if (!resp.ok) {
  console.error(`FAILED: status ${resp.status}: ${await resp.text()}`)
  process.exit(1)
}
const got = Buffer.from(await resp.arrayBuffer())
const want = await readFile(expectedFile)
if (Buffer.compare(got, want) !== 0) {
  console.error(`FAILED: ${got.length} bytes differ from the expected ${want.length}`)
  process.exit(1)
}
await verifiedFetch.stop()
await helia.stop()
console.log(`ok ${got.length} bytes verified`)

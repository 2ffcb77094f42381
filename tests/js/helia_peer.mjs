// A real Helia node (helia 7, libp2p 3) as a Bitswap/DHT peer for the chorus interop tests,
// driven by one command per stdin line; every answer is one stdout line.
//
// Usage: node helia_peer.mjs [--dht-client]   (run from the npm cache dir, next to node_modules)
// --dht-client: the DHT runs in client mode (does not serve /ipfs/kad/1.0.0, so DHT servers do
// not put this node in their routing tables; it can still query and provide).
//
// On start it prints `peer <peer-id>`, one `listen <multiaddr>` per listen address (loopback
// only) and `ready`. Commands:
//   add <len> <seed>       add the xorshift64* bytes of `common::pseudo_random(len, seed)` with
//                          @helia/unixfs defaults (CIDv1, raw leaves, 1 MiB chunks)
//                          -> `added <cid> <len> <sha256-hex>`
//   dial <multiaddr>       -> `dialed <peer-id>`
//   waitdht                wait until the DHT routing table holds a peer -> `dht <size>`
//   cat <cid> [out-file]   fetch (over Bitswap), write the bytes to out-file if given
//                          -> `cat <len> <sha256-hex>`
//   provide <cid>          announce on the DHT -> `provided <cid>`
//   findprovs <cid> <n>    `provider <peer-id>` lines, then `findprovs done` (stops after n)
//   quit                   stop the node and exit 0
// A failing command prints `error <message>` and the node keeps running.
//
// Nothing here leaves 127.0.0.0/8: no bootstrap list, no delegated routers, no mDNS, no
// autoNAT/UPnP/relay; libp2p is configured by hand (withLibp2pLight), not Helia's defaults.
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { peerIdFromCID } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'

const TIMEOUT_MS = 60_000
const dhtClient = process.argv.includes('--dht-client')

// Same generator as bin/tests/common/mod.rs `pseudo_random`.
function pseudoRandom (len, seed) {
  const M = (1n << 64n) - 1n
  let x = ((BigInt(seed) * 0x9E3779B97F4A7C15n) & M) | 1n
  const out = Buffer.alloc(Math.ceil(len / 8) * 8)
  for (let off = 0; off < len; off += 8) {
    x ^= x >> 12n
    x = (x ^ (x << 25n)) & M
    x ^= x >> 27n
    out.writeBigUInt64LE((x * 0x2545F4914F6CDD1Dn) & M, off)
  }
  return out.subarray(0, len)
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')

const helia = withBitswap(withLibp2pLight(createHeliaLight({
  blockstore: new MemoryBlockstore(),
  datastore: new MemoryDatastore()
}), {
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  peerDiscovery: [],
  services: {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: '/ipfs/kad/1.0.0',
      clientMode: dhtClient,
      // keep loopback addresses (the default mapper drops private ones)
      peerInfoMapper: passthroughMapper
    })
  }
}))
await helia.start()
const fs = unixfs(helia)
const libp2p = helia.libp2p
const dht = libp2p.services.dht

console.log(`peer ${libp2p.peerId.toString()}`)
for (const ma of libp2p.getMultiaddrs()) {
  console.log(`listen ${ma.toString()}`)
}
console.log('ready')

async function waitDht (signal) {
  if (dht.routingTable.size > 0) return dht.routingTable.size
  await new Promise((resolve, reject) => {
    const onAdd = () => { cleanup(); resolve() }
    const onAbort = () => { cleanup(); reject(new Error('no DHT peer before the deadline')) }
    const cleanup = () => {
      dht.routingTable.removeEventListener('peer:add', onAdd)
      signal.removeEventListener('abort', onAbort)
    }
    dht.routingTable.addEventListener('peer:add', onAdd)
    signal.addEventListener('abort', onAbort)
  })
  return dht.routingTable.size
}

async function run (cmd, args) {
  const signal = AbortSignal.timeout(TIMEOUT_MS)
  switch (cmd) {
    case 'add': {
      const bytes = pseudoRandom(Number(args[0]), args[1])
      const cid = await fs.addBytes(bytes, { signal })
      return `added ${cid} ${bytes.length} ${sha256(bytes)}`
    }
    case 'dial': {
      const conn = await libp2p.dial(multiaddr(args[0]), { signal })
      return `dialed ${conn.remotePeer.toString()}`
    }
    case 'waitdht':
      return `dht ${await waitDht(signal)}`
    case 'cat': {
      const chunks = []
      for await (const chunk of fs.cat(CID.parse(args[0]), { signal })) {
        chunks.push(chunk)
      }
      const bytes = Buffer.concat(chunks)
      if (args[1] != null) await writeFile(args[1], bytes)
      return `cat ${bytes.length} ${sha256(bytes)}`
    }
    case 'provide':
      await helia.routing.provide(CID.parse(args[0]), { signal })
      return `provided ${args[0]}`
    case 'findprovs': {
      const max = Number(args[1] ?? 1)
      let n = 0
      for await (const p of helia.routing.findProviders(CID.parse(args[0]), { signal })) {
        // Helia 7 names providers by their libp2p-key CID
        const cid = CID.asCID(p.id)
        console.log(`provider ${cid != null ? peerIdFromCID(cid).toString() : p.id.toString()}`)
        if (++n >= max) break
      }
      return 'findprovs done'
    }
    case 'quit':
      await helia.stop()
      process.exit(0)
      break
    default:
      throw new Error(`unknown command ${cmd}`)
  }
}

// Commands run one at a time, in order.
let queue = Promise.resolve()
const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const [cmd, ...args] = line.trim().split(/\s+/)
  if (cmd === '') return
  queue = queue.then(async () => {
    try {
      console.log(await run(cmd, args))
    } catch (err) {
      console.log(`error ${cmd}: ${(err.message ?? String(err)).replace(/\n/g, ' ')}`)
    }
  })
})
rl.on('close', () => {
  queue.then(() => helia.stop()).then(() => process.exit(0))
})

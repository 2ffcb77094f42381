// A real Helia node (helia 7, libp2p 3) for scripts/bench-network.sh: adds a file from disk and
// fetches one over Bitswap into a file, one command per stdin line, one answer line each.
//
// Usage: node bench_helia_peer.mjs   (run from the npm cache dir, next to node_modules)
//
// On start it prints `peer <peer-id>`, one `listen <multiaddr>` per listen address (loopback
// only) and `ready`. Commands:
//   addfile <path>         add the file with @helia/unixfs defaults (CIDv1, raw leaves, 1 MiB
//                          chunks) -> `added <cid>`
//   dial <multiaddr>       -> `dialed <peer-id>`
//   get <cid> <out-file>   fetch over Bitswap, streaming the bytes into out-file
//                          -> `got <bytes> <seconds>`
//   quit                   stop the node and exit 0
// A failing command prints `error <message>`.
//
// The node is configured by hand (withLibp2pLight): TCP + noise + yamux, identify, ping and
// Bitswap; no DHT (the benchmark connects the peers directly), no bootstrap list, no mDNS, no
// autoNAT/UPnP/relay, so nothing leaves 127.0.0.0/8. Blocks are kept in memory, as the
// interop driver tests/js/helia_peer.mjs does.
import { createReadStream, createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'

// Generous: a 256 MiB transfer on a loaded two-core machine can take a minute.
const TIMEOUT_MS = 600_000

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
    ping: ping()
  }
}))
await helia.start()
const fs = unixfs(helia)
const libp2p = helia.libp2p

console.log(`peer ${libp2p.peerId.toString()}`)
for (const ma of libp2p.getMultiaddrs()) {
  console.log(`listen ${ma.toString()}`)
}
console.log('ready')

async function run (cmd, args) {
  const signal = AbortSignal.timeout(TIMEOUT_MS)
  switch (cmd) {
    case 'addfile': {
      const cid = await fs.addByteStream(createReadStream(args[0]), { signal })
      return `added ${cid}`
    }
    case 'dial': {
      const conn = await libp2p.dial(multiaddr(args[0]), { signal })
      return `dialed ${conn.remotePeer.toString()}`
    }
    case 'get': {
      const start = process.hrtime.bigint()
      let bytes = 0
      await pipeline(
        async function * () {
          for await (const chunk of fs.cat(CID.parse(args[0]), { signal })) {
            bytes += chunk.length
            yield chunk
          }
        },
        createWriteStream(args[1])
      )
      const secs = Number(process.hrtime.bigint() - start) / 1e9
      return `got ${bytes} ${secs}`
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

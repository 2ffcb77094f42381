// Drives a chorus daemon with npm kubo-rpc-client (the JS RPC client of kubo).
// Usage: node kubo_rpc_client_check.mjs http://127.0.0.1:PORT
// Prints "ok <n> checks"; exits 1 on the first mismatch.
import { create } from 'kubo-rpc-client'

const url = process.argv[2]
const client = create({ url })
let checks = 0
function check (cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`)
    process.exit(1)
  }
  checks++
}

async function bytesOf (iter) {
  const parts = []
  for await (const p of iter) parts.push(p)
  return Buffer.concat(parts)
}

const data = Buffer.alloc(700_000)
for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff

const added = await client.add(data)
check(added.cid.toString().startsWith('Qm'), `add cid ${added.cid}`)
check(added.size > data.length, `add size ${added.size}`)
check(Buffer.compare(await bytesOf(client.cat(added.cid)), data) === 0, 'cat bytes')
check(Buffer.compare(await bytesOf(client.cat(added.cid, { offset: 1000, length: 50 })), data.subarray(1000, 1050)) === 0, 'cat range')

await client.pin.rm(added.cid)
const pinned = await client.pin.add(added.cid)
check(pinned.toString() === added.cid.toString(), `pin.add returned ${pinned}`)

const small = await client.add('hello\n', { cidVersion: 1 })
check(small.cid.toString() === 'bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am', `cidv1 add ${small.cid}`)
const block = await client.block.get(small.cid)
check(Buffer.from(block).toString() === 'hello\n', 'block.get')

const id = await client.id()
check(id.id.toString().startsWith('12D3KooW'), `id ${id.id}`)

console.log(`ok ${checks} checks`)

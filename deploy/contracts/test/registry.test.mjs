// The contracts in out/*.json on a real local chain (anvil), driven and signed with ethers 6 as a
// browser wallet and a relaying node would.
//
//   node --test deploy/contracts/test/*.test.mjs   (Node 20 also takes the directory)
//
// anvil is the binary of the npm package @foundry-rs/anvil-linux-amd64 that
// scripts/install-test-peers.sh installs under .cache/npm; set ANVIL to use another one, or
// CHORUS_TEST_CACHE to point at another cache. ethers resolves from deploy/contracts/node_modules
// (a devDependency, the same exact version as tests/npm's).
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  ContractFactory, JsonRpcProvider, Network, Signature, TypedDataEncoder, Wallet, ZeroAddress, concat, dataSlice, getAddress, parseEther,
  toBeHex,
} from 'ethers'

const here = dirname(fileURLToPath(import.meta.url))
const contractsDir = dirname(here)
const repo = dirname(dirname(contractsDir))
const cache = process.env.CHORUS_TEST_CACHE || join(repo, '.cache')
const anvilBin = process.env.ANVIL || join(cache, 'npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil')
const chainSign = join(cache, 'npm/chain_sign.mjs')
const CHAIN_ID = 31337n

const UPLOAD_TYPES = {
  Upload: [
    { name: 'cid', type: 'string' },
    { name: 'owner', type: 'address' },
    { name: 'timestamp', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
  ],
}
const DELIST_TYPES = {
  Delist: [
    { name: 'cid', type: 'string' },
    { name: 'owner', type: 'address' },
    { name: 'timestamp', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
  ],
}

function artifact(name) {
  return JSON.parse(readFileSync(join(contractsDir, 'out', `${name}.json`), 'utf8'))
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function rpc(url, method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  })
  const body = await res.json()
  if (body.error) throw new Error(`${method}: ${body.error.message}`)
  return body.result
}

/** Starts anvil on a free loopback port and waits until it answers eth_chainId. */
async function startAnvil() {
  assert.ok(existsSync(anvilBin), `anvil not found at ${anvilBin}: run scripts/install-test-peers.sh or set ANVIL`)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const child = spawn(anvilBin, ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(CHAIN_ID), '--silent'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  // never leave anvil behind, even if the run dies before after()
  process.on('exit', () => child.kill('SIGKILL'))
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  let exited = null
  child.on('exit', (code, signal) => { exited = `code ${code}, signal ${signal}` })
  for (let i = 0; i < 200; i++) {
    if (exited) throw new Error(`anvil exited (${exited}): ${stderr}`)
    try {
      if (BigInt(await rpc(url, 'eth_chainId')) === CHAIN_ID) return { child, url }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`anvil did not answer on ${url} within 10 s: ${stderr}`)
}

/**
 * Asserts that `promise` reverts with the custom error `name` of the contracts' ABIs. (A reverted
 * send fails in the provider's gas estimate, which does not know the ABI: decode the data here.)
 */
async function reverts(promise, name) {
  await assert.rejects(promise, (e) => {
    let got = e.revert?.name
    for (const c of [content, nodes]) got ??= e.data ? c.interface.parseError(e.data)?.name : undefined
    assert.equal(got, name, `expected ${name}, got ${got ?? e.shortMessage ?? e.message}`)
    return true
  })
}

let anvil
let provider
let relay // a funded account of anvil's that sends the transactions (a chorus node)
let content
let nodes
let domain
let nonceCounter = 1000n

const now = () => BigInt(Math.floor(Date.now() / 1000))
const nextNonce = () => nonceCounter++

/** A fresh wallet, funded so that it can send its own transactions. */
async function fundedWallet() {
  const w = Wallet.createRandom().connect(provider)
  await provider.send('anvil_setBalance', [w.address, toBeHex(parseEther('10'))])
  return w
}

async function signUpload(wallet, cid, timestamp, nonce, owner = wallet.address) {
  return wallet.signTypedData(domain, UPLOAD_TYPES, { cid, owner, timestamp, nonce })
}

async function signDelist(wallet, cid, timestamp, nonce, owner = wallet.address) {
  return wallet.signTypedData(domain, DELIST_TYPES, { cid, owner, timestamp, nonce })
}

function eventsOf(receipt, contract, name) {
  return receipt.logs
    .map((log) => contract.interface.parseLog(log))
    .filter((e) => e && e.name === name)
}

before(async () => {
  anvil = await startAnvil()
  // cacheTimeout -1: no reuse of an identical request's answer (a nonce, a gas estimate) from
  // the last 250 ms, which back-to-back transactions on an automining chain would otherwise get
  provider = new JsonRpcProvider(anvil.url, Network.from(CHAIN_ID), { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 })
  relay = await provider.getSigner(0)
  const c = artifact('ContentRegistry')
  content = await (await new ContractFactory(c.abi, c.bytecode, relay).deploy()).waitForDeployment()
  const n = artifact('NodeRegistry')
  nodes = await (await new ContractFactory(n.abi, n.bytecode, relay).deploy()).waitForDeployment()
  domain = { name: 'Chorus', version: '1', chainId: CHAIN_ID, verifyingContract: await content.getAddress() }
})

after(() => {
  provider?.destroy()
  anvil?.child.kill('SIGTERM')
})

describe('ContentRegistry', () => {
  test('the deployed code is out/*.json deployedBytecode', async () => {
    assert.equal(await provider.getCode(await nodes.getAddress()), artifact('NodeRegistry').deployedBytecode)
    // ContentRegistry's EIP-712 immutables (chain id, address, hashes) are filled in at deployment
    const code = await provider.getCode(await content.getAddress())
    assert.equal(code.length, artifact('ContentRegistry').deployedBytecode.length)
  })

  test('eip712Domain is Chorus / 1 / this chain / this contract', async () => {
    const d = await content.eip712Domain()
    assert.equal(d.name, 'Chorus')
    assert.equal(d.version, '1')
    assert.equal(d.chainId, CHAIN_ID)
    assert.equal(d.verifyingContract, domain.verifyingContract)
  })

  test('uploadDigest and delistDigest equal ethers TypedDataEncoder.hash', async () => {
    const owner = Wallet.createRandom()
    const message = { cid: 'bafkreidigest', owner: owner.address, timestamp: 1767225600n, nonce: 2n ** 255n + 7n }
    assert.equal(
      await content.uploadDigest(message.cid, message.owner, message.timestamp, message.nonce),
      TypedDataEncoder.hash(domain, UPLOAD_TYPES, message),
    )
    assert.equal(
      await content.delistDigest(message.cid, message.owner, message.timestamp, message.nonce),
      TypedDataEncoder.hash(domain, DELIST_TYPES, message),
    )
  })

  test('registerFor with a signTypedData signature records the upload and emits ContentRegistered', async () => {
    const owner = Wallet.createRandom() // holds no ether: the relay pays
    const cid = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'
    const ts = now()
    const nonce = nextNonce()
    const sig = await signUpload(owner, cid, ts, nonce)
    assert.equal(sig.length, 2 + 65 * 2)
    const receipt = await (await content.registerFor(owner.address, cid, 0, '{"name":"a.txt"}', ts, nonce, sig)).wait()
    const [ev] = eventsOf(receipt, content, 'ContentRegistered')
    assert.deepEqual([...ev.args], [owner.address, cid, 0n, '{"name":"a.txt"}', ts])
    assert.equal(await content.ownerOf(cid), owner.address)
    const r = await content.recordOf(cid)
    assert.deepEqual([...r], [owner.address, 0n, BigInt(receipt.blockNumber), ts, false])
    assert.equal(await content.nonceUsed(owner.address, nonce), true)
    assert.equal(await content.nonceUsed(owner.address, nonce + 1n), false)
  })

  test('unknown CIDs read as zero', async () => {
    assert.equal(await content.ownerOf('bafkunknown'), ZeroAddress)
    assert.deepEqual([...(await content.recordOf('bafkunknown'))], [ZeroAddress, 0n, 0n, 0n, false])
  })

  test('a signature by another key, for another owner, domain or message is refused', async () => {
    const owner = Wallet.createRandom()
    const other = Wallet.createRandom()
    const cid = 'bafkreiforged'
    const ts = now()
    const nonce = nextNonce()
    // another key signs a message naming the owner
    await reverts(content.registerFor(owner.address, cid, 0, '', ts, nonce, await signUpload(other, cid, ts, nonce, owner.address)), 'InvalidSignature')
    // the owner's signature over different fields
    const good = await signUpload(owner, cid, ts, nonce)
    await reverts(content.registerFor(owner.address, 'bafkreiother', 0, '', ts, nonce, good), 'InvalidSignature')
    await reverts(content.registerFor(owner.address, cid, 0, '', ts + 1n, nonce, good), 'InvalidSignature')
    await reverts(content.registerFor(other.address, cid, 0, '', ts, nonce, good), 'InvalidSignature')
    // another chain id or verifying contract
    const wrongChain = await owner.signTypedData({ ...domain, chainId: 1n }, UPLOAD_TYPES, { cid, owner: owner.address, timestamp: ts, nonce })
    await reverts(content.registerFor(owner.address, cid, 0, '', ts, nonce, wrongChain), 'InvalidSignature')
    const wrongContract = await owner.signTypedData({ ...domain, verifyingContract: other.address }, UPLOAD_TYPES, { cid, owner: owner.address, timestamp: ts, nonce })
    await reverts(content.registerFor(owner.address, cid, 0, '', ts, nonce, wrongContract), 'InvalidSignature')
    // a Delist signature is no Upload signature
    await reverts(content.registerFor(owner.address, cid, 0, '', ts, nonce, await signDelist(owner, cid, ts, nonce)), 'InvalidSignature')
    // the malleable twin (s -> n - s) of a valid signature, and a truncated one
    const s = Signature.from(good)
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const highS = toBeHex(n - BigInt(s.s), 32)
    const twinV = s.v === 27 ? 28 : 27
    const twin = concat([s.r, highS, toBeHex(twinV, 1)])
    // the twin is a valid signature to the bare ecrecover precompile ...
    const digest = TypedDataEncoder.hash(domain, UPLOAD_TYPES, { cid, owner: owner.address, timestamp: ts, nonce })
    const recovered = await provider.call({ to: toBeHex(1, 20), data: concat([digest, toBeHex(twinV, 32), s.r, highS]) })
    assert.equal(getAddress(dataSlice(recovered, 12)), owner.address)
    // ... but not to the registry
    await reverts(content.registerFor(owner.address, cid, 0, '', ts, nonce, twin), 'InvalidSignature')
    await reverts(content.registerFor(owner.address, cid, 0, '', ts, nonce, good.slice(0, -2)), 'InvalidSignature')
    // nothing was recorded, and the nonce is still free: the genuine signature goes through
    assert.equal(await content.ownerOf(cid), ZeroAddress)
    assert.equal(await content.nonceUsed(owner.address, nonce), false)
    await (await content.registerFor(owner.address, cid, 0, '', ts, nonce, good)).wait()
    assert.equal(await content.ownerOf(cid), owner.address)
  })

  test('a replayed nonce is refused', async () => {
    const owner = Wallet.createRandom()
    const ts = now()
    const nonce = nextNonce()
    const sig = await signUpload(owner, 'bafkreireplay1', ts, nonce)
    await (await content.registerFor(owner.address, 'bafkreireplay1', 0, '', ts, nonce, sig)).wait()
    await reverts(content.registerFor(owner.address, 'bafkreireplay1', 0, '', ts, nonce, sig), 'NonceAlreadyUsed')
    const sig2 = await signUpload(owner, 'bafkreireplay2', ts, nonce)
    await reverts(content.registerFor(owner.address, 'bafkreireplay2', 0, '', ts, nonce, sig2), 'NonceAlreadyUsed')
    // nonces are per owner: another owner may use the same number
    const other = Wallet.createRandom()
    await (await content.registerFor(other.address, 'bafkreireplay2', 0, '', ts, nonce, await signUpload(other, 'bafkreireplay2', ts, nonce))).wait()
  })

  test('the same CID twice is refused, even by its owner and after delisting', async () => {
    const owner = await fundedWallet()
    const other = Wallet.createRandom()
    const cid = 'bafkreitwice'
    const ts = now()
    let nonce = nextNonce()
    await (await content.registerFor(owner.address, cid, 0, '', ts, nonce, await signUpload(owner, cid, ts, nonce))).wait()
    nonce = nextNonce()
    await reverts(content.registerFor(other.address, cid, 0, '', ts, nonce, await signUpload(other, cid, ts, nonce)), 'AlreadyRegistered')
    await reverts(content.registerFor(owner.address, cid, 1, '', ts, nonce, await signUpload(owner, cid, ts, nonce)), 'AlreadyRegistered')
    await (await content.connect(owner).delist(cid)).wait()
    await reverts(content.registerFor(owner.address, cid, 0, '', ts, nonce, await signUpload(owner, cid, ts, nonce)), 'AlreadyRegistered')
  })

  test('bad arguments are refused: kind 2 or more, empty CID, zero owner, a timestamp past 64 bits', async () => {
    const owner = Wallet.createRandom()
    const ts = now()
    const nonce = nextNonce()
    const sig = await signUpload(owner, 'bafkreikind', ts, nonce)
    await reverts(content.registerFor(owner.address, 'bafkreikind', 2, '', ts, nonce, sig), 'InvalidKind')
    await reverts(content.registerFor(owner.address, 'bafkreikind', 255, '', ts, nonce, sig), 'InvalidKind')
    await reverts(content.registerFor(owner.address, '', 0, '', ts, nonce, await signUpload(owner, '', ts, nonce)), 'EmptyCid')
    await reverts(content.registerFor(ZeroAddress, 'bafkreikind', 0, '', ts, nonce, sig), 'ZeroOwner')
    const far = 2n ** 64n
    await reverts(content.registerFor(owner.address, 'bafkreikind', 0, '', far, nonce, await signUpload(owner, 'bafkreikind', far, nonce)), 'TimestampOutOfRange')
    await (await content.registerFor(owner.address, 'bafkreikind', 1, '', ts, nonce, sig)).wait()
    assert.equal((await content.recordOf('bafkreikind')).kind, 1n)
  })

  test('registerTrackFor registers the source (kind 1) and the track (kind 2), source first', async () => {
    const owner = Wallet.createRandom()
    const source = 'bafkreitracksource'
    const track = 'bafybeitrackhlsroot'
    const ts = now()
    const nonce = nextNonce()
    const sig = await signUpload(owner, source, ts, nonce)
    // the signature covers the source CID, not the track's
    await reverts(content.registerTrackFor(owner.address, source, track, '', ts, nonce, await signUpload(owner, track, ts, nonce)), 'InvalidSignature')
    const receipt = await (await content.registerTrackFor(owner.address, source, track, '{"title":"t"}', ts, nonce, sig)).wait()
    const evs = eventsOf(receipt, content, 'ContentRegistered')
    assert.deepEqual(evs.map((e) => [...e.args]), [
      [owner.address, source, 1n, '{"title":"t"}', ts],
      [owner.address, track, 2n, '{"title":"t"}', ts],
    ])
    assert.equal((await content.recordOf(source)).kind, 1n)
    assert.equal((await content.recordOf(track)).kind, 2n)
    assert.equal(await content.ownerOf(track), owner.address)
    // either CID already taken refuses the pair, and registers neither
    let n2 = nextNonce()
    await reverts(content.registerTrackFor(owner.address, 'bafkreinewsource', track, '', ts, n2, await signUpload(owner, 'bafkreinewsource', ts, n2)), 'AlreadyRegistered')
    assert.equal(await content.ownerOf('bafkreinewsource'), ZeroAddress)
    await reverts(content.registerTrackFor(owner.address, source, 'bafybeinewtrack', '', ts, n2, await signUpload(owner, source, ts, n2)), 'AlreadyRegistered')
    assert.equal(await content.ownerOf('bafybeinewtrack'), ZeroAddress)
    await reverts(content.registerTrackFor(owner.address, 'bafkreisame', 'bafkreisame', '', ts, n2, await signUpload(owner, 'bafkreisame', ts, n2)), 'AlreadyRegistered')
    await reverts(content.registerTrackFor(owner.address, 'bafkreinewsource', '', '', ts, n2, await signUpload(owner, 'bafkreinewsource', ts, n2)), 'EmptyCid')
    assert.equal(await content.nonceUsed(owner.address, n2), false)
  })

  test('delist by the owner; twice, unknown or by a stranger is refused', async () => {
    const owner = await fundedWallet()
    const stranger = await fundedWallet()
    const cid = 'bafkreidelistme'
    const ts = now()
    const nonce = nextNonce()
    await (await content.registerFor(owner.address, cid, 0, '', ts, nonce, await signUpload(owner, cid, ts, nonce))).wait()
    await reverts(content.connect(stranger).delist(cid), 'NotContentOwner')
    await reverts(content.connect(owner).delist('bafkreinotthere'), 'NotRegistered')
    const receipt = await (await content.connect(owner).delist(cid)).wait()
    const [ev] = eventsOf(receipt, content, 'ContentDelisted')
    assert.deepEqual([...ev.args], [owner.address, cid])
    const r = await content.recordOf(cid)
    assert.equal(r.delisted, true)
    assert.equal(r.owner, owner.address)
    assert.equal(await content.ownerOf(cid), owner.address)
    await reverts(content.connect(owner).delist(cid), 'AlreadyDelisted')
  })

  test('delistFor with the owner Delist signature; nonces shared with uploads', async () => {
    const owner = Wallet.createRandom()
    const stranger = Wallet.createRandom()
    const cid = 'bafkreidelistfor'
    const ts = now()
    const upNonce = nextNonce()
    await (await content.registerFor(owner.address, cid, 0, '', ts, upNonce, await signUpload(owner, cid, ts, upNonce))).wait()
    // the upload's nonce cannot be spent again on a delisting
    await reverts(content.delistFor(cid, owner.address, ts, upNonce, await signDelist(owner, cid, ts, upNonce)), 'NonceAlreadyUsed')
    const nonce = nextNonce()
    // an Upload signature, a stranger's signature, a stranger's own valid Delist: all refused
    await reverts(content.delistFor(cid, owner.address, ts, nonce, await signUpload(owner, cid, ts, nonce)), 'InvalidSignature')
    await reverts(content.delistFor(cid, owner.address, ts, nonce, await signDelist(stranger, cid, ts, nonce, owner.address)), 'InvalidSignature')
    await reverts(content.delistFor(cid, stranger.address, ts, nonce, await signDelist(stranger, cid, ts, nonce)), 'NotContentOwner')
    await reverts(content.delistFor('bafkreinotthere', owner.address, ts, nonce, await signDelist(owner, 'bafkreinotthere', ts, nonce)), 'NotRegistered')
    const sig = await signDelist(owner, cid, ts, nonce)
    const receipt = await (await content.delistFor(cid, owner.address, ts, nonce, sig)).wait()
    const [ev] = eventsOf(receipt, content, 'ContentDelisted')
    assert.deepEqual([...ev.args], [owner.address, cid])
    assert.equal((await content.recordOf(cid)).delisted, true)
    assert.equal(await content.nonceUsed(owner.address, nonce), true)
    await reverts(content.delistFor(cid, owner.address, ts, nonce, sig), 'NonceAlreadyUsed')
    const n2 = nextNonce()
    await reverts(content.delistFor(cid, owner.address, ts, n2, await signDelist(owner, cid, ts, n2)), 'AlreadyDelisted')
  })

  test('tests/js/chain_sign.mjs signs what the contract accepts', async () => {
    assert.ok(existsSync(chainSign), `${chainSign} missing: run scripts/install-test-peers.sh`)
    const run = promisify(execFile)
    const owner = Wallet.createRandom()
    const { stdout: addr } = await run(process.execPath, [chainSign, '--address', owner.privateKey.slice(2)])
    assert.equal(addr.trim(), owner.address)
    const cid = 'bafkreichainsign'
    const ts = now()
    const nonce = nextNonce()
    // the shape a node hands over: wrapped, EIP712Domain listed, numbers as JSON numbers/strings
    const typed = {
      TypedData: {
        domain: { name: 'Chorus', version: '1', chainId: Number(CHAIN_ID), verifyingContract: domain.verifyingContract.toLowerCase() },
        types: {
          EIP712Domain: [
            { name: 'name', type: 'string' },
            { name: 'version', type: 'string' },
            { name: 'chainId', type: 'uint256' },
            { name: 'verifyingContract', type: 'address' },
          ],
          ...UPLOAD_TYPES,
        },
        primaryType: 'Upload',
        message: { cid, owner: owner.address.toLowerCase(), timestamp: Number(ts), nonce: nonce.toString() },
      },
    }
    const sign = (input) => new Promise((resolve, reject) => {
      const child = execFile(process.execPath, [chainSign, owner.privateKey], (err, stdout) => (err ? reject(err) : resolve(stdout.trim())))
      child.stdin.end(JSON.stringify(input))
    })
    const sig = await sign(typed)
    assert.match(sig, /^0x[0-9a-f]{130}$/)
    assert.equal(await sign(typed.TypedData), sig)
    assert.equal(sig, await signUpload(owner, cid, ts, nonce))
    await (await content.registerFor(owner.address, cid, 0, '', ts, nonce, sig)).wait()
    assert.equal(await content.ownerOf(cid), owner.address)
  })
})

describe('NodeRegistry', () => {
  async function all() {
    const count = await nodes.nodeCount()
    const out = []
    for (let i = 0n; i < count; i++) {
      const [operator, peerId, multiaddrs, gatewayUrl] = await nodes.nodeAt(i)
      out.push({ operator, peerId, multiaddrs: [...multiaddrs], gatewayUrl })
    }
    return out.sort((a, b) => a.peerId.localeCompare(b.peerId))
  }

  test('register, update, deregister; strangers refused', async () => {
    const op = await fundedWallet()
    const stranger = await fundedWallet()
    const reg = nodes.connect(op)
    const peer = '12D3KooWAlpha'
    const addrs = ['/ip4/203.0.113.7/tcp/4001', '/ip4/203.0.113.7/udp/4001/quic-v1']
    const receipt = await (await reg.register(peer, addrs, 'https://a.example')).wait()
    const [ev] = eventsOf(receipt, nodes, 'NodeRegistered')
    assert.equal(ev.args.operator, op.address)
    assert.equal(ev.args.peerId, peer)
    assert.deepEqual([...ev.args.multiaddrs], addrs)
    assert.equal(ev.args.gatewayUrl, 'https://a.example')
    assert.deepEqual(await all(), [{ operator: op.address, peerId: peer, multiaddrs: addrs, gatewayUrl: 'https://a.example' }])

    // the same operator updates its entry in place (a shorter list replaces the longer one)
    await (await reg.register(peer, ['/dns4/a.example/tcp/4001'], '')).wait()
    assert.deepEqual(await all(), [{ operator: op.address, peerId: peer, multiaddrs: ['/dns4/a.example/tcp/4001'], gatewayUrl: '' }])

    await reverts(nodes.connect(stranger).register(peer, [], 'https://evil.example'), 'PeerIdTaken')
    await reverts(nodes.connect(stranger).deregister(peer), 'NotOperator')
    await reverts(reg.register('', [], ''), 'EmptyPeerId')
    await reverts(reg.deregister('12D3KooWNobody'), 'UnknownPeerId')
    await reverts(nodes.nodeAt(1), 'IndexOutOfRange')

    // more nodes (one the stranger's), then removal from the middle keeps the rest intact
    await (await reg.register('12D3KooWBravo', ['/ip4/198.51.100.1/tcp/4001'], 'https://b.example')).wait()
    await (await nodes.connect(stranger).register('12D3KooWCharlie', [], 'https://c.example')).wait()
    assert.equal(await nodes.nodeCount(), 3n)
    const out = await (await reg.deregister(peer)).wait()
    const [dev] = eventsOf(out, nodes, 'NodeDeregistered')
    assert.deepEqual([...dev.args], [op.address, peer])
    assert.deepEqual(await all(), [
      { operator: op.address, peerId: '12D3KooWBravo', multiaddrs: ['/ip4/198.51.100.1/tcp/4001'], gatewayUrl: 'https://b.example' },
      { operator: stranger.address, peerId: '12D3KooWCharlie', multiaddrs: [], gatewayUrl: 'https://c.example' },
    ])
    await reverts(reg.deregister(peer), 'UnknownPeerId')
    // the moved entry is still found by its peer id: its operator can update and remove it
    await (await nodes.connect(stranger).register('12D3KooWCharlie', ['/ip4/192.0.2.9/tcp/4001'], '')).wait()
    await (await nodes.connect(stranger).deregister('12D3KooWCharlie')).wait()
    await (await reg.deregister('12D3KooWBravo')).wait()
    assert.equal(await nodes.nodeCount(), 0n)
    // a released peer id can be registered again, by anyone
    await (await nodes.connect(stranger).register(peer, [], '')).wait()
    assert.equal((await nodes.nodeAt(0)).operator, stranger.address)
  })
})

// Signs EIP-712 typed data with ethers 6, the way a browser wallet does for chorus uploads and
// delistings (run from .cache/npm, where scripts/install-test-peers.sh installs ethers).
//
//   node chain_sign.mjs <hex-private-key> < typed.json   # prints the 0x signature (65 bytes)
//   node chain_sign.mjs --address <hex-private-key>      # prints the checksummed address
//
// typed.json is {"TypedData": {...}} or the bare {domain, types, primaryType, message}; an
// EIP712Domain entry in types is dropped (ethers derives it from the domain).
import { Wallet } from 'ethers'

function usage(message) {
  if (message) console.error(`chain_sign.mjs: ${message}`)
  console.error('usage: node chain_sign.mjs <hex-private-key> < typed.json\n       node chain_sign.mjs --address <hex-private-key>')
  process.exit(2)
}

function wallet(key) {
  if (!key) usage('missing private key')
  try {
    return new Wallet(key.startsWith('0x') ? key : `0x${key}`)
  } catch (e) {
    usage(`invalid private key: ${e.shortMessage ?? e.message}`)
  }
}

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

const args = process.argv.slice(2)
if (args[0] === '--address') {
  if (args.length !== 2) usage()
  console.log(wallet(args[1]).address)
} else {
  if (args.length !== 1) usage()
  const signer = wallet(args[0])
  let parsed
  try {
    parsed = JSON.parse(await readStdin())
  } catch (e) {
    usage(`stdin is not JSON: ${e.message}`)
  }
  const typed = parsed && typeof parsed === 'object' && 'TypedData' in parsed ? parsed.TypedData : parsed
  const { domain, types, primaryType, message } = typed ?? {}
  if (!domain || !types || !message) usage('typed data needs domain, types and message')
  const { EIP712Domain: _domainType, ...structTypes } = types
  try {
    console.log(await signer.signTypedData(domain, reachable(structTypes, primaryType), message))
  } catch (e) {
    console.error(`chain_sign.mjs: cannot sign: ${e.shortMessage ?? e.message}`)
    process.exit(1)
  }
}

// ethers infers the primary type (the one no other type references), so keep only primaryType
// and the struct types it uses; without a primaryType, all of them.
function reachable(types, primaryType) {
  if (!primaryType) return types
  if (!(primaryType in types)) usage(`primaryType ${primaryType} is not in types`)
  const kept = {}
  const todo = [primaryType]
  while (todo.length > 0) {
    const name = todo.pop()
    if (name in kept) continue
    kept[name] = types[name]
    for (const field of types[name]) {
      const base = String(field.type).replace(/(\[\d*\])+$/, '')
      if (base in types) todo.push(base)
    }
  }
  return kept
}

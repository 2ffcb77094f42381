// Compiles the chorus contracts offline with the pinned solc-js and writes out/<Name>.json as
// {"abi", "bytecode", "deployedBytecode"} (the form the Rust node's alloy `sol!` macro reads).
//
//   node compile.mjs          # (re)write out/*.json
//   node compile.mjs --check  # exit 1 if out/*.json differ from a fresh compile
//
// Imports (@openzeppelin/contracts/...) resolve from this directory's node_modules (`npm ci`).
// Same sources and the same pinned compiler give byte-identical files.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '..', '..')
const shortPath = (p) => relative(repoRoot, p)
const outDir = join(here, 'out')
const nodeModules = join(here, 'node_modules')
const CONTRACTS = ['ContentRegistry', 'NodeRegistry']

function fail(message) {
  console.error(`compile.mjs: ${message}`)
  process.exit(1)
}

const args = process.argv.slice(2)
const check = args.includes('--check')
for (const a of args) {
  if (a !== '--check') fail(`unknown argument ${a} (usage: node compile.mjs [--check])`)
}

const require = createRequire(join(here, 'package.json'))
let solc
try {
  solc = require('solc')
} catch {
  fail(`solc is not installed under ${shortPath(nodeModules)}; run \`npm ci\` in ${shortPath(here)}`)
}
// The compiler must be the pinned one, or the output would not be reproducible.
const pinned = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).dependencies.solc
if (!solc.version().startsWith(`${pinned}+`)) {
  fail(`solc ${solc.version()} is installed but package.json pins ${pinned}; run \`npm ci\` in ${shortPath(here)}`)
}

// Resolves an import path against node_modules, refusing anything that escapes it.
function findImports(path) {
  const file = resolve(nodeModules, path)
  if (!file.startsWith(nodeModules + sep) || !existsSync(file)) {
    return { error: `import ${path} not found under ${shortPath(nodeModules)}/` }
  }
  return { contents: readFileSync(file, 'utf8') }
}

const sources = {}
for (const name of CONTRACTS) {
  sources[`${name}.sol`] = { content: readFileSync(join(here, `${name}.sol`), 'utf8') }
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: {
      '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
    },
  },
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }))
const diagnostics = output.errors ?? []
for (const d of diagnostics) {
  console.error(d.formattedMessage ?? d.message)
}
const errors = diagnostics.filter((d) => d.severity === 'error')
if (errors.length > 0) fail(`${errors.length} compilation error(s)`)

let stale = 0
if (!check) mkdirSync(outDir, { recursive: true })
for (const name of CONTRACTS) {
  const c = output.contracts?.[`${name}.sol`]?.[name]
  if (!c) fail(`no output for contract ${name}`)
  const artifact = {
    abi: c.abi,
    bytecode: `0x${c.evm.bytecode.object}`,
    deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
  }
  const text = `${JSON.stringify(artifact, null, 2)}\n`
  const file = join(outDir, `${name}.json`)
  const shown = shortPath(file)
  if (check) {
    const current = existsSync(file) ? readFileSync(file, 'utf8') : null
    if (current !== text) {
      console.error(
        current === null
          ? `compile.mjs: ${shown} is missing`
          : `compile.mjs: ${shown} is out of date with ${name}.sol (or its imports, or the compiler)`,
      )
      stale++
    }
  } else {
    writeFileSync(file, text)
    console.log(`wrote ${shown}`)
  }
}
if (stale > 0) {
  fail(`${stale} checked-in artifact(s) differ from a fresh compile; run \`npm ci && node compile.mjs\` in ${shortPath(here)} and commit out/`)
}
if (check) console.log(`${shortPath(outDir)}/*.json match a fresh compile with solc ${solc.version()}`)

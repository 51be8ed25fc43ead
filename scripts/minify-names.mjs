#!/usr/bin/env node
// Post-build step: shortens wasm-bindgen's import and export names in a built package.
//
//   node scripts/minify-names.mjs <pkg dir> [--map <file>]
//
// Run it on wasm-bindgen's raw `--target web` output: after wasm-pack, BEFORE terser (the
// glue must still call the exports object `wasm` and build its imports in
// __wbg_get_imports()). In place, it rewrites
//   - <name>_bg.wasm: each import module, import and export gets the shortest unused JS
//     identifier (`a`, `b`, … `aa`, …; exports have their own namespace, the most used in the
//     glue first). Only the import and export sections are rebuilt: every other byte (code,
//     data, tables) is copied as it is, so nothing but names can change. Imports the glue
//     satisfies with a snippet's module namespace (`"./snippets/…/x.js": import1`) keep their
//     field names (they are the snippet's export names); only their module is renamed.
//   - <name>.js: the module keys and import keys of the object __wbg_get_imports() returns,
//     and every `wasm.<export>` property read. Found with a JS parser (acorn), never by text
//     search: the public API's own names (installGlobal, clerkTokenProvider, …) equal some
//     export names and stay untouched.
//   - <name>.d.ts and <name>_bg.wasm.d.ts: the raw export names, listed in InitOutput (the
//     type of what init() resolves to: the raw exports object) and in the wasm's own typings.
// --map <file> writes the old -> new names as JSON (for reading stack traces); keep that file
// out of the package.
//
// Everything is built in memory and checked before anything is written: the new wasm validates
// (V8's WebAssembly.Module) and imports/exports exactly the renamed old names, its other
// sections are byte-identical; the new glue provides every wasm import and nothing more, reads
// only existing exports, each exactly as many times as the old glue read the old name, and
// keeps its own ES exports; no name being renamed appears in the glue anywhere else (a string,
// another object's key, `wasm[...]`). Any surprise exits 1 with a message naming it, and
// leaves the package as it was.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TAG = '[minify-names]';
class Fail extends Error {}
const fail = (message) => { throw new Fail(message); };

// ---------------------------------------------------------------- arguments and files

function parseArgs(argv) {
  const opts = { dir: null, map: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--map') { opts.map = argv[++i]; if (!opts.map) fail('--map needs a file name'); }
    else if (a.startsWith('-')) fail(`unknown option ${a}`);
    else if (opts.dir === null) opts.dir = a;
    else fail(`unexpected argument ${a}`);
  }
  if (opts.dir === null) fail('usage: node scripts/minify-names.mjs <pkg dir> [--map <file>]');
  return opts;
}

function packageFiles(dir) {
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) fail(`${dir} is not a directory`);
  const wasms = fs.readdirSync(dir).filter((f) => f.endsWith('_bg.wasm'));
  if (wasms.length !== 1) fail(`expected exactly one *_bg.wasm in ${dir}, found ${wasms.length}`);
  const base = wasms[0].slice(0, -'_bg.wasm'.length);
  const file = (name) => path.join(dir, name);
  const files = {
    wasm: file(`${base}_bg.wasm`),
    glue: file(`${base}.js`),
    types: file(`${base}.d.ts`),
    wasmTypes: file(`${base}_bg.wasm.d.ts`),
  };
  if (!fs.existsSync(files.glue)) fail(`no glue ${files.glue} next to ${files.wasm}`);
  return files;
}

function loadAcorn() {
  // acorn comes with terser (package-lock pins it); resolved from the repository.
  const roots = [fileURLToPath(import.meta.url), path.join(process.cwd(), 'package.json')];
  for (const root of roots) {
    try { return createRequire(root)('acorn'); } catch { /* next */ }
  }
  fail('cannot load the JS parser acorn (installed with terser: run `npm ci`, or `npm i -D acorn`)');
}

// ---------------------------------------------------------------- names

// JS words that would be legal as property names but read badly or trip old tools.
const RESERVED = new Set(('do if in for let new try var case else enum eval null this true void with ' +
  'await break catch class const false super throw while yield delete export import public return ' +
  'static switch typeof default extends finally package private continue debugger function ' +
  'arguments interface protected implements instanceof undefined NaN Infinity').split(' '));
const FIRST = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ$_';
const REST = FIRST + '0123456789';

function* shortNames() {
  for (let len = 1; ; len++) {
    const idx = new Array(len).fill(0);
    for (;;) {
      const name = FIRST[idx[0]] + idx.slice(1).map((i) => REST[i]).join('');
      if (!RESERVED.has(name)) yield name;
      let k = len - 1;
      while (k >= 0) {
        idx[k]++;
        if (idx[k] < (k === 0 ? FIRST : REST).length) break;
        idx[k] = 0;
        k--;
      }
      if (k < 0) break;
    }
  }
}

const IDENT = /^[A-Za-z_$][\w$]*$/;
const propKey = (name) => (IDENT.test(name) ? name : JSON.stringify(name));
const importKey = (module, field) => JSON.stringify([module, field]);

// ---------------------------------------------------------------- wasm binary

function readLeb(b, p) {
  let value = 0, shift = 0, byte;
  do {
    if (p >= b.length) fail('wasm: truncated LEB128');
    byte = b[p++];
    if (shift < 32) value |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  return [value >>> 0, p];
}
const skipLeb = (b, p) => readLeb(b, p)[1];
function leb(n) {
  const out = [];
  do { let x = n & 0x7f; n >>>= 7; if (n) x |= 0x80; out.push(x); } while (n);
  return out;
}

function splitSections(b) {
  const magic = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  if (b.length < 8 || magic.some((x, i) => b[i] !== x)) fail('not a wasm module (bad magic/version)');
  const sections = [];
  for (let p = 8; p < b.length;) {
    const id = b[p];
    const [size, body] = readLeb(b, p + 1);
    const end = body + size;
    if (end > b.length) fail(`wasm: section ${id} runs past the end`);
    sections.push({ id, start: p, body, end });
    p = end;
  }
  return sections;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
function readName(b, p) {
  const [n, q] = readLeb(b, p);
  return [utf8.decode(b.subarray(q, q + n)), q + n];
}
const nameBytes = (s) => { const e = Buffer.from(s, 'utf8'); return [...leb(e.length), ...e]; };

function skipRefType(b, p) {
  const t = b[p++];
  if (t === 0x63 || t === 0x64) p = skipLeb(b, p); // (ref null? heaptype), heaptype is an s33
  return p;
}
function skipLimits(b, p) {
  const flags = b[p++];
  if (flags & ~0x0f) fail(`wasm: unknown limits flags 0x${flags.toString(16)}`);
  p = skipLeb(b, p);
  if (flags & 1) p = skipLeb(b, p); // max
  if (flags & 8) p = skipLeb(b, p); // custom page size
  return p;
}
function skipImportDesc(b, p) {
  const kind = b[p++];
  switch (kind) {
    case 0: return skipLeb(b, p); // func: type index
    case 1: return skipLimits(b, skipRefType(b, p)); // table
    case 2: return skipLimits(b, p); // memory
    case 3: return skipRefType(b, p) + 1; // global: value type (one byte or a ref type), mutability
    case 4: return skipLeb(b, p + 1); // tag: attribute, type index
    default: return fail(`wasm: unknown import kind ${kind}`);
  }
}

// Rebuilds the import (2) and export (7) sections with renamed entries; every other byte of
// the module is copied as it is.
function renameSections(b, renameImport, renameExport) {
  const out = [b.subarray(0, 8)];
  for (const s of splitSections(b)) {
    if (s.id !== 2 && s.id !== 7) { out.push(b.subarray(s.start, s.end)); continue; }
    let [count, p] = readLeb(b, s.body);
    const body = [...leb(count)];
    for (let i = 0; i < count; i++) {
      if (s.id === 2) {
        let module, field;
        [module, p] = readName(b, p);
        [field, p] = readName(b, p);
        const [m, f] = renameImport(module, field);
        const descEnd = skipImportDesc(b, p);
        body.push(...nameBytes(m), ...nameBytes(f), ...b.subarray(p, descEnd));
        p = descEnd;
      } else {
        let field;
        [field, p] = readName(b, p);
        if (b[p] > 4) fail(`wasm: unknown export kind ${b[p]}`);
        const descEnd = skipLeb(b, p + 1);
        body.push(...nameBytes(renameExport(field)), ...b.subarray(p, descEnd));
        p = descEnd;
      }
    }
    if (p !== s.end) fail(`wasm: section ${s.id} has ${s.end - p} unexplained bytes`);
    out.push(Uint8Array.from([s.id, ...leb(body.length)]), Uint8Array.from(body));
  }
  return Buffer.concat(out);
}

function describeWasm(bytes, what) {
  let module;
  try { module = new WebAssembly.Module(bytes); } catch (e) { fail(`${what} does not validate: ${e.message}`); }
  return { imports: WebAssembly.Module.imports(module), exports: WebAssembly.Module.exports(module) };
}

// ---------------------------------------------------------------- renaming the wasm

function planSections(wasm) {
  const { imports, exports } = wasm.desc;
  const importMap = new Map(), exportMap = new Map(), moduleMap = new Map();
  const moduleNames = shortNames(), importNames = shortNames(), exportNames = shortNames();
  for (const { module, name } of imports) {
    if (!moduleMap.has(module)) moduleMap.set(module, moduleNames.next().value);
    const key = importKey(module, name);
    if (importMap.has(key)) continue; // imported twice: one name serves both
    // A snippet's module namespace provides its imports under the snippet's own export names:
    // only the module is renamed.
    const field = wasm.keepFields.has(module) ? name : importNames.next().value;
    importMap.set(key, { module: moduleMap.get(module), name: field });
  }
  // Exports have their own namespace: the most used in the glue get the first names.
  const uses = wasm.exportUses;
  const order = exports.map((e, i) => ({ name: e.name, i, n: uses.get(e.name) ?? 0 }))
    .sort((x, y) => y.n - x.n || x.i - y.i);
  for (const { name } of order) exportMap.set(name, exportNames.next().value);
  const bytes = renameSections(wasm.bytes,
    (m, f) => { const r = importMap.get(importKey(m, f)); return [r.module, r.name]; },
    (f) => exportMap.get(f));
  return { bytes, importMap, exportMap };
}

// The new module must validate and carry exactly the old imports and exports, renamed.
function verifyWasm(oldDesc, plan, oldBytes) {
  const nu = describeWasm(plan.bytes, 'the renamed wasm');
  const sig = (list) => list.map((x) => JSON.stringify(x)).sort();
  const expectImports = oldDesc.imports.map(({ module, name, kind }) => {
    const r = plan.importMap.get(importKey(module, name));
    if (!r) fail(`the mapping does not rename the import ${module}.${name}`);
    return { module: r.module, name: r.name, kind };
  });
  const expectExports = oldDesc.exports.map(({ name, kind }) => {
    if (!plan.exportMap.has(name)) fail(`the mapping does not rename the export ${name}`);
    return { name: plan.exportMap.get(name), kind };
  });
  if (plan.importMap.size !== new Set(oldDesc.imports.map((i) => importKey(i.module, i.name))).size) fail('the mapping names imports the wasm does not have');
  if (plan.exportMap.size !== oldDesc.exports.length) fail('the mapping names exports the wasm does not have');
  if (sig(expectImports).join() !== sig(nu.imports).join()) fail('the renamed wasm does not import exactly the renamed imports');
  if (sig(expectExports).join() !== sig(nu.exports).join()) fail('the renamed wasm does not export exactly the renamed exports');
  if (new Set(nu.exports.map((e) => e.name)).size !== nu.exports.length) fail('duplicate export names after renaming');
  const rest = (b) => splitSections(b).filter((s) => s.id !== 2 && s.id !== 7).map((s) => b.subarray(s.start, s.end));
  const a = rest(oldBytes), c = rest(plan.bytes);
  if (a.length !== c.length || a.some((x, i) => !x.equals(c[i]))) fail('a section other than imports/exports changed');
  return nu;
}

// ---------------------------------------------------------------- the JS glue

function walk(node, visit, parent = null, key = null) {
  if (!node || typeof node.type !== 'string') return;
  visit(node, parent, key);
  for (const k of Object.keys(node)) {
    if (k === 'type' || k === 'start' || k === 'end' || k === 'loc') continue;
    const v = node[k];
    if (Array.isArray(v)) v.forEach((c) => walk(c, visit, node, k));
    else if (v && typeof v.type === 'string') walk(v, visit, node, k);
  }
}

const keyName = (prop) => {
  if (prop.computed) return null;
  if (prop.key.type === 'Identifier') return prop.key.name;
  if (prop.key.type === 'Literal' && typeof prop.key.value === 'string') return prop.key.value;
  return null;
};
const where = (src, node) => {
  const before = src.slice(0, node.start).split('\n');
  return `line ${before.length}:${before.at(-1).length + 1}`;
};

// Finds every place the glue names a wasm import or export:
//   exportRefs: `wasm.X` (wasm being the variable assigned `instance.exports`)
//   modules:    the object __wbg_get_imports() returns, module name -> object of imports
// and fails on any shape it does not understand.
function analyzeGlue(acorn, src, what) {
  let ast;
  try { ast = acorn.parse(src, { ecmaVersion: 'latest', sourceType: 'module' }); } catch (e) { fail(`${what}: cannot parse: ${e.message}`); }

  const exportsReads = [];
  walk(ast, (n) => {
    if (n.type === 'MemberExpression' && !n.computed && n.property.name === 'exports') exportsReads.push(n);
  });
  const assigns = [];
  walk(ast, (n) => {
    if (n.type === 'AssignmentExpression' && n.left.type === 'Identifier' && exportsReads.includes(n.right)) assigns.push(n);
  });
  if (exportsReads.length !== 1 || assigns.length !== 1) {
    fail(`${what}: expected exactly one \`wasm = instance.exports\` (found ${assigns.length} such assignments, ` +
      `${exportsReads.length} reads of .exports). Is this wasm-bindgen's raw --target web glue? Run before terser.`);
  }
  const wasmVar = assigns[0].left.name;

  // Every use of the exports variable: `wasm.X` is a reference to export X; `wasm[...]`
  // would be one we cannot follow; another binding of the same name would shadow it.
  const exportRefs = [];
  let bindings = 0;
  walk(ast, (n, parent, key) => {
    if (n.type !== 'Identifier' || n.name !== wasmVar) return;
    if (parent.type === 'MemberExpression' && key === 'object') {
      if (parent.computed) fail(`${what}: ${wasmVar}[...] at ${where(src, parent)}: an export read by computed name cannot be renamed safely`);
      exportRefs.push({ name: parent.property.name, node: parent.property });
    } else if (parent.type === 'MemberExpression' && key === 'property' && !parent.computed) {
      // some_object.wasm: not our variable
    } else if (parent.type === 'Property' && key === 'key' && !parent.shorthand) {
      // { wasm: ... }: a key, not our variable
    } else if (parent.type === 'VariableDeclarator' && key === 'id') {
      bindings++;
    } else if ((/Function/.test(parent.type) && (key === 'id' || key === 'params')) ||
      (parent.type === 'CatchClause' && key === 'param') || (/^Class/.test(parent.type) && key === 'id') ||
      (/^Import/.test(parent.type) && key === 'local') || ['ArrayPattern', 'RestElement'].includes(parent.type) ||
      (parent.type === 'AssignmentPattern' && key === 'left')) {
      fail(`${what}: another binding named \`${wasmVar}\` at ${where(src, n)}`);
    }
  });
  if (bindings !== 1) fail(`${what}: expected one declaration of \`${wasmVar}\`, found ${bindings}`);

  // The imports: function __wbg_get_imports() { const import0 = { __proto__: null, f: ... };
  // return { __proto__: null, "./x_bg.js": import0 }; }
  const getImports = ast.body.filter((n) => n.type === 'FunctionDeclaration' && n.id.name === '__wbg_get_imports');
  if (getImports.length !== 1) {
    fail(`${what}: expected one function __wbg_get_imports() building the wasm imports, found ${getImports.length}. ` +
      'Is this wasm-bindgen\'s raw --target web glue? Run before terser.');
  }
  const fnBody = getImports[0].body.body;
  const returns = fnBody.filter((n) => n.type === 'ReturnStatement');
  if (returns.length !== 1 || returns[0].argument?.type !== 'ObjectExpression') {
    fail(`${what}: __wbg_get_imports() does not end in \`return { module: imports, ... }\``);
  }
  const locals = new Map();
  for (const st of fnBody) {
    if (st.type !== 'VariableDeclaration') continue;
    for (const d of st.declarations) if (d.id.type === 'Identifier') locals.set(d.id.name, d.init);
  }
  // `import * as import1 from "./snippets/…/x.js"`: wasm-bindgen hands a snippet's module
  // namespace to the wasm as is when the wasm imports its functions unchanged.
  const namespaces = new Map();
  for (const st of ast.body) {
    if (st.type !== 'ImportDeclaration') continue;
    for (const sp of st.specifiers) if (sp.type === 'ImportNamespaceSpecifier') namespaces.set(sp.local.name, st.source.value);
  }
  const modules = [];
  for (const prop of returns[0].argument.properties) {
    const name = prop.type === 'Property' ? keyName(prop) : null;
    if (name === null) fail(`${what}: unreadable module entry at ${where(src, prop)} in __wbg_get_imports()`);
    if (name === '__proto__') continue;
    if (prop.shorthand || prop.method) fail(`${what}: unexpected module entry "${name}" at ${where(src, prop)}`);
    if (modules.some((m) => m.name === name)) fail(`${what}: module "${name}" is provided twice (the last one would win)`);
    let obj = prop.value, via = null;
    if (obj.type === 'Identifier' && !locals.has(obj.name) && namespaces.has(obj.name)) {
      modules.push({ name, prop, namespace: { local: obj.name, source: namespaces.get(obj.name) }, fields: [] });
      continue;
    }
    if (obj.type === 'Identifier') { via = obj.name; obj = locals.get(via); }
    if (obj?.type !== 'ObjectExpression') {
      fail(`${what}: the imports of module "${name}" are neither an object literal in __wbg_get_imports() nor a module namespace; cannot rename them safely`);
    }
    const fields = [];
    for (const f of obj.properties) {
      const fname = f.type === 'Property' ? keyName(f) : null;
      if (fname === null) fail(`${what}: unreadable import entry at ${where(src, f)} (spread or computed key)`);
      if (fname === '__proto__') continue;
      if (fields.some((x) => x.name === fname)) fail(`${what}: import "${name}".${fname} is provided twice`);
      fields.push({ name: fname, prop: f });
    }
    modules.push({ name, prop, via, fields });
  }
  // The import objects must not be extended elsewhere (import0.x = ...).
  const vias = new Set(modules.map((m) => m.via).filter(Boolean));
  walk(ast, (n, parent, key) => {
    if (n.type === 'Identifier' && vias.has(n.name) && parent.type === 'MemberExpression' && key === 'object') {
      fail(`${what}: the import object ${n.name} is modified at ${where(src, n)}`);
    }
  });

  // The glue's public surface (ES exports) and every other spot a name could hide in.
  const publicNames = [];
  for (const st of ast.body) {
    if (st.type === 'ExportNamedDeclaration') {
      if (st.declaration?.id) publicNames.push(st.declaration.id.name);
      for (const d of st.declaration?.declarations ?? []) publicNames.push(d.id.name);
      for (const s of st.specifiers) publicNames.push(s.exported.name ?? s.exported.value);
    } else if (st.type === 'ExportDefaultDeclaration') publicNames.push('default');
  }
  const renameSites = new Set([...exportRefs.map((r) => r.node), ...modules.flatMap((m) => [m.prop, ...m.fields.map((f) => f.prop)])]);
  const otherMentions = []; // { name, node }: a string or property name outside the rename sites
  walk(ast, (n, parent, key) => {
    const specifier = key === 'source' && /^(Import|Export)/.test(parent.type);
    if (n.type === 'Literal' && typeof n.value === 'string' && !specifier && !(parent.type === 'Property' && key === 'key' && renameSites.has(parent))) {
      otherMentions.push({ name: n.value, node: n });
    } else if (n.type === 'TemplateElement') {
      otherMentions.push({ name: n.value.cooked, node: n });
    } else if (n.type === 'Identifier' && parent.type === 'MemberExpression' && key === 'property' && !parent.computed && !renameSites.has(n)) {
      otherMentions.push({ name: n.name, node: n });
    } else if (n.type === 'Identifier' && parent.type === 'Property' && key === 'key' && !parent.computed && !renameSites.has(parent)) {
      otherMentions.push({ name: n.name, node: n });
    }
  });
  return { wasmVar, exportRefs, modules, publicNames, otherMentions };
}

function countBy(list) {
  const m = new Map();
  for (const x of list) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

// The exports of a snippet module the glue imports (module namespaces are passed to the wasm
// as they are, so the wasm's import names must be among them).
function snippetExports(acorn, glueFile, source, cache) {
  if (cache.has(source)) return cache.get(source);
  const file = path.resolve(path.dirname(glueFile), source);
  if (!source.startsWith('./') || !fs.existsSync(file)) fail(`the glue imports ${source}, which is not a file in the package`);
  let ast;
  try { ast = acorn.parse(fs.readFileSync(file, 'utf8'), { ecmaVersion: 'latest', sourceType: 'module' }); } catch (e) { fail(`${file}: cannot parse: ${e.message}`); }
  const names = new Set();
  for (const st of ast.body) {
    if (st.type === 'ExportAllDeclaration') fail(`${file}: \`export *\` hides which names the wasm can import from it`);
    if (st.type === 'ExportDefaultDeclaration') names.add('default');
    if (st.type !== 'ExportNamedDeclaration') continue;
    if (st.declaration?.id) names.add(st.declaration.id.name);
    for (const d of st.declaration?.declarations ?? []) if (d.id.type === 'Identifier') names.add(d.id.name);
    for (const sp of st.specifiers) names.add(sp.exported.name ?? sp.exported.value);
  }
  cache.set(source, names);
  return names;
}

// Checks a glue against a wasm: every wasm import is provided (by an object literal, or by a
// snippet namespace that exports the name), no object literal provides an import the wasm
// lacks, and every `wasm.X` the glue reads is an export. Fails with `context` otherwise.
function checkAgreement(acorn, glueFile, glue, desc, cache, context) {
  const needed = new Set(desc.imports.map((i) => importKey(i.module, i.name)));
  const provided = new Set();
  for (const m of glue.modules) {
    if (m.namespace) {
      const names = snippetExports(acorn, glueFile, m.namespace.source, cache);
      for (const i of desc.imports) if (i.module === m.name && names.has(i.name)) provided.add(importKey(m.name, i.name));
      continue;
    }
    for (const f of m.fields) {
      const k = importKey(m.name, f.name);
      if (!needed.has(k)) fail(`${context}: the glue provides import "${m.name}".${f.name}, which the wasm does not import`);
      provided.add(k);
    }
  }
  for (const i of desc.imports) {
    if (!provided.has(importKey(i.module, i.name))) fail(`${context}: the glue does not provide the wasm import "${i.module}".${i.name}`);
  }
  const exported = new Set(desc.exports.map((e) => e.name));
  for (const r of glue.exportRefs) {
    if (!exported.has(r.name)) fail(`${context}: the glue reads ${glue.wasmVar}.${r.name}, which the wasm does not export`);
  }
}

function rewriteGlue(src, glue, plan, oldDesc) {
  const edits = [];
  const renamedSites = []; // old names whose text is replaced (for the text check)
  for (const ref of glue.exportRefs) {
    const renamed = plan.exportMap.get(ref.name);
    edits.push([ref.node.start, ref.node.end, renamed]);
    if (renamed !== ref.name) renamedSites.push(ref.name);
  }
  for (const m of glue.modules) {
    const needed = oldDesc.imports.filter((i) => i.module === m.name);
    const targets = new Set(needed.map((i) => plan.importMap.get(importKey(i.module, i.name)).module));
    if (targets.size > 1) fail(`module "${m.name}" would be split into ${[...targets].join(', ')}`);
    if (targets.size === 0) fail(`the glue provides module "${m.name}", which the wasm does not import from`);
    const newModule = [...targets][0];
    if (m.namespace) {
      // The namespace object is passed as it is: its imports must keep their names.
      for (const i of needed) {
        if (plan.importMap.get(importKey(i.module, i.name)).name !== i.name) fail(`import "${i.module}".${i.name} comes from a module namespace and cannot be renamed`);
      }
    } else {
      for (const f of m.fields) {
        const r = plan.importMap.get(importKey(m.name, f.name));
        if (f.prop.shorthand) edits.push([f.prop.start, f.prop.end, `${propKey(r.name)}: ${f.name}`]);
        else edits.push([f.prop.key.start, f.prop.key.end, propKey(r.name)]);
        if (r.name !== f.name) renamedSites.push(f.name);
      }
    }
    edits.push([m.prop.key.start, m.prop.key.end, propKey(newModule)]);
  }
  edits.sort((a, b) => b[0] - a[0]);
  let out = src;
  let last = Infinity;
  for (const [start, end, text] of edits) {
    if (end > last) fail('overlapping rewrites in the glue');
    out = out.slice(0, start) + text + out.slice(end);
    last = start;
  }
  return { text: out, edits: edits.length, renamedSites };
}

// Checks the rewritten glue on its own, against the new wasm.
function verifyGlue(acorn, files, oldSrc, oldGlue, rewritten, plan, newDesc, cache) {
  const newSrc = rewritten.text;
  const nu = analyzeGlue(acorn, newSrc, 'the rewritten glue');
  // 1. It provides every import of the new wasm, with nothing left over, and reads only exports.
  checkAgreement(acorn, files.glue, nu, newDesc, cache, 'after renaming');
  // 2. It reads each export exactly as often as the old glue read the old name.
  const before = countBy(oldGlue.exportRefs.map((r) => r.name));
  const after = countBy(nu.exportRefs.map((r) => r.name));
  for (const [name, n] of before) {
    const m = after.get(plan.exportMap.get(name)) ?? 0;
    if (m !== n) fail(`export ${name} is read ${n} times in the glue, its new name ${plan.exportMap.get(name)} ${m} times`);
  }
  if (nu.exportRefs.length !== oldGlue.exportRefs.length) fail('the number of export reads in the glue changed');
  // 3. The glue's public API is untouched.
  if (nu.publicNames.join() !== oldGlue.publicNames.join()) fail(`the glue's own exports changed: ${oldGlue.publicNames} -> ${nu.publicNames}`);
  // 4. Text check: each old name occurs in the new text exactly as often as in the old one,
  //    minus the places rewritten (what remains are the glue's own identifiers and comments,
  //    e.g. `export function installGlobal`, which shares its name with an export).
  const tokens = (text, name) => text.split(new RegExp(`(?<![\\w$])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w$])`)).length - 1;
  for (const [name, n] of countBy(rewritten.renamedSites)) {
    if (name.length < 4) continue; // too short to count as text
    const a = tokens(oldSrc, name), b = tokens(newSrc, name);
    if (a - b !== n) fail(`${name}: ${a} occurrences in the old glue, ${b} in the new, but ${n} rewrites`);
  }
  return nu;
}

// ---------------------------------------------------------------- typings

function rewriteTypes(file, exportMap, newExports, pattern, blockStart) {
  if (!fs.existsSync(file)) return null;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let inBlock = blockStart === null, found = blockStart === null, renamed = 0;
  for (let i = 0; i < lines.length; i++) {
    if (blockStart !== null && !inBlock) {
      if (blockStart.test(lines[i])) { inBlock = true; found = true; }
      continue;
    }
    if (blockStart !== null && /^}/.test(lines[i])) { inBlock = false; continue; }
    const m = pattern.exec(lines[i]);
    if (!m) {
      if (blockStart !== null && lines[i].trim() !== '') fail(`${file}:${i + 1}: unexpected line in InitOutput: ${lines[i]}`);
      continue;
    }
    const renamedName = exportMap.get(m[2]);
    if (renamedName === undefined) fail(`${file}:${i + 1}: types an export ${m[2]} the wasm does not have`);
    if (!newExports.has(renamedName)) fail(`${file}:${i + 1}: ${renamedName} is not exported`);
    lines[i] = m[1] + renamedName + lines[i].slice(m[1].length + m[2].length);
    renamed++;
  }
  if (!found) fail(`${file}: no \`export interface InitOutput\``);
  if (blockStart !== null && inBlock) fail(`${file}: InitOutput is not closed`);
  return { text: lines.join('\n'), renamed };
}

// ---------------------------------------------------------------- main

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const files = packageFiles(opts.dir);
  const acorn = loadAcorn();
  const cache = new Map();

  const oldBytes = fs.readFileSync(files.wasm);
  const oldSrc = fs.readFileSync(files.glue, 'utf8');
  const oldDesc = describeWasm(oldBytes, files.wasm);
  const oldGlue = analyzeGlue(acorn, oldSrc, files.glue);
  const keepFields = new Set(oldGlue.modules.filter((m) => m.namespace).map((m) => m.name));
  const names = [...oldDesc.imports.filter((i) => !keepFields.has(i.module)).map((i) => i.name), ...oldDesc.exports.map((e) => e.name)];
  if (names.length > 0 && names.every((n) => n.length <= 2)) {
    fail(`${files.wasm}: every import and export name is already short: already minified? Run on wasm-pack's fresh output.`);
  }
  // Before renaming, the glue and the wasm must agree, or the package is broken already.
  checkAgreement(acorn, files.glue, oldGlue, oldDesc, cache, 'before renaming (is the package already broken?)');

  const plan = planSections({
    bytes: oldBytes,
    desc: oldDesc,
    exportUses: countBy(oldGlue.exportRefs.map((r) => r.name)),
    keepFields,
  });
  const newDesc = verifyWasm(oldDesc, plan, oldBytes);

  // No name that changes may appear in the glue other than at the places rewritten (a string,
  // another object's key or property): it could be a reference the rewrite would miss.
  const changing = new Set();
  for (const [k, v] of plan.importMap) {
    const [m, f] = JSON.parse(k);
    if (m !== v.module) changing.add(m);
    if (f !== v.name) changing.add(f);
  }
  for (const [k, v] of plan.exportMap) if (k !== v) changing.add(k);
  for (const { name, node } of oldGlue.otherMentions) {
    if (changing.has(name)) {
      fail(`${files.glue} ${where(oldSrc, node)}: "${name}" is a wasm import/export name used outside ` +
        `${oldGlue.wasmVar}.X and the import object; renaming it could break the glue`);
    }
  }

  const glue = rewriteGlue(oldSrc, oldGlue, plan, oldDesc);
  verifyGlue(acorn, files, oldSrc, oldGlue, glue, plan, newDesc, cache);

  const newExports = new Set(newDesc.exports.map((e) => e.name));
  const types = rewriteTypes(files.types, plan.exportMap, newExports, /^(\s*readonly\s+)([\w$]+)(?=\s*:)/, /^export interface InitOutput\b/);
  const wasmTypes = rewriteTypes(files.wasmTypes, plan.exportMap, newExports, /^(export const\s+)([\w$]+)(?=\s*:)/, null);

  // All checks passed: write everything (temp files, then renames).
  const writes = [[files.wasm, plan.bytes], [files.glue, glue.text]];
  if (types) writes.push([files.types, types.text]);
  if (wasmTypes) writes.push([files.wasmTypes, wasmTypes.text]);
  for (const [file, data] of writes) fs.writeFileSync(`${file}.minify-tmp`, data);
  for (const [file] of writes) fs.renameSync(`${file}.minify-tmp`, file);
  if (opts.map) {
    const obj = { imports: {}, exports: Object.fromEntries(plan.exportMap) };
    for (const [k, v] of plan.importMap) { const [m, f] = JSON.parse(k); obj.imports[`${m} ${f}`] = `${v.module} ${v.name}`; }
    fs.writeFileSync(opts.map, JSON.stringify(obj, null, 1) + '\n');
  }

  const kept = oldDesc.imports.filter((i) => keepFields.has(i.module)).map((i) => i.name);
  const unread = oldDesc.exports.filter((e) => !oldGlue.exportRefs.some((r) => r.name === e.name)).map((e) => e.name);
  console.log(`${TAG} renamed ${new Set(oldDesc.imports.map((i) => i.module)).size} import modules, ` +
    `${oldDesc.imports.length - kept.length} of ${oldDesc.imports.length} imports, ${oldDesc.exports.length} exports; ` +
    `${glue.edits} glue edits; d.ts InitOutput: ${types ? types.renamed : 'absent'}`);
  console.log(`${TAG} wasm ${oldBytes.length} -> ${plan.bytes.length} B, glue ${Buffer.byteLength(oldSrc)} -> ${Buffer.byteLength(glue.text)} B`);
  if (kept.length) console.log(`${TAG} kept (snippet exports the wasm imports directly): ${kept.join(', ')}`);
  if (unread.length) console.log(`${TAG} exports the glue never reads (renamed too): ${unread.join(', ')}`);
}

try {
  main();
} catch (e) {
  if (e instanceof Fail) {
    console.error(`${TAG} FAILED: ${e.message}`);
    console.error(`${TAG} nothing was written; the package is unchanged`);
  } else {
    console.error(`${TAG} FAILED (unexpected): ${e.stack}`);
    console.error(`${TAG} the package may be unchanged; rebuild it to be sure`);
  }
  process.exit(1);
}

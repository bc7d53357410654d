import t from 'tap'
import { MAX_NAME_LENGTH, namespacedName, NameTable } from '../gateway/naming.ts'
import { deriveServerKey, SERVER_KEY_PATTERN } from '../routes/servers/key.ts'

const VALID = /^[a-zA-Z0-9_-]{1,64}$/

t.test('server keys: stable ASCII slugs, unique, for names in any language', async (t) => {
  t.equal(deriveServerKey('File System', new Set()), 'file-system')
  t.equal(deriveServerKey('Café Über Tools!', new Set()), 'cafe-uber-tools')
  const chinese = deriveServerKey('文件系统服务器', new Set())
  t.match(chinese, /^server-[0-9a-f]{6}$/)
  t.equal(deriveServerKey('文件系统服务器', new Set()), chinese, 'deterministic')
  t.not(deriveServerKey('另一个服务器', new Set()), chinese)
  t.equal(deriveServerKey('github', new Set(['github'])), 'github-2')
  t.equal(deriveServerKey('github', new Set(['github', 'github-2'])), 'github-3')
  const long = deriveServerKey('a very long server name that goes on and on and on', new Set())
  t.ok(long.length <= 32)
  for (const key of [chinese, long, 'github-2']) t.match(key, new RegExp(SERVER_KEY_PATTERN))
})

t.test('namespaced names: {key}__{name}, valid and at most 64 characters', async (t) => {
  t.equal(namespacedName('github', 'search'), 'github__search')
  const cases = [
    ['github', 'x'.repeat(80)],
    ['github', 'search.repos'],
    ['files', '读取文件'],
    ['k'.repeat(32), 'tool_with_a_rather_long_name_that_overflows']
  ]
  for (const [key, name] of cases) {
    const exposed = namespacedName(key!, name!)
    t.match(exposed, VALID, `${key}/${name} → ${exposed}`)
    t.ok(exposed.length <= MAX_NAME_LENGTH)
    t.equal(namespacedName(key!, name!), exposed, 'deterministic')
  }
  t.not(namespacedName('a', 'x.y'), namespacedName('a', 'x_y'), 'sanitising never merges two names')
  t.not(namespacedName('a', 'x'.repeat(70) + '1'), namespacedName('a', 'x'.repeat(70) + '2'), 'shortening never merges two names')
})

t.test('a name table resolves exposed names back, and never lets two collide', async (t) => {
  const items = [
    { serverId: 's1', serverKey: 'github', name: 'search' },
    { serverId: 's2', serverKey: 'gitlab', name: 'search' },
    { serverId: 's3', serverKey: 'files', name: 'x'.repeat(100) },
    { serverId: 's3', serverKey: 'files', name: 'x'.repeat(99) + 'y' },
    { serverId: 's4', serverKey: 'a', name: 'b__c' },
    { serverId: 's5', serverKey: 'a__b', name: 'c' }
  ]
  const table = new NameTable(items)
  const names = table.entries().map(([exposed]) => exposed)
  t.equal(new Set(names).size, items.length, 'every item has its own name')
  t.ok(names.every((name) => VALID.test(name)))
  t.equal(table.resolve('github__search')?.serverId, 's1')
  t.equal(table.resolve('gitlab__search')?.serverId, 's2')
  t.equal(table.resolve('nope'), undefined)
  const ab = table.entries().filter(([, item]) => item.serverId === 's4' || item.serverId === 's5')
  t.equal(ab.length, 2, '"a__b__c" from two servers stays two names')
  for (const [exposed, item] of table.entries()) t.same(table.resolve(exposed), item)
})

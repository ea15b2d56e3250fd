// Scenario: an admin watches the supervision tree. The registry is its one root with the chat
// directory (and a room someone chats in), presence and the notifier under it; the top-N table
// sorts; restarting the room and presence asks for confirmation, and each restart shows in the
// tree while chat keeps working.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, chatLines, launchBrowser, poll, register, say, screenshot, signedInContext, startServer, watchConsole } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('an admin sees the tree, sorts the top actors and restarts a room and presence with confirmation', async () => {
  const errors = [];
  // A viewer in a chat room, so the tree has a room.
  const host = await register(server.url, 'treehost');
  await apiCall(server.url, '/channels', { method: 'POST', token: host.access_token, body: { slug: 'treeroom', title: 'Tree' } });
  const hc = await signedInContext(browser, host);
  const hp = await hc.newPage();
  watchConsole(hp, errors);
  await hp.goto(`${server.url}/c/treeroom`);
  await poll('the chat input', async () => hp.getByLabel('Send a message').isEnabled());
  await say(hp, 'before the restart');
  await poll('the first message', async () => (await chatLines(hp)).some((l) => l.includes('before the restart')));

  const admin = await apiCall(server.url, '/auth/login', { method: 'POST', body: { login: 'admin', password: server.adminPassword } });
  const ac = await signedInContext(browser, admin);
  const ap = await ac.newPage();
  watchConsole(ap, errors);
  await ap.goto(`${server.url}/admin`);

  // The tree: one root, the services and the room under it.
  const tree = ap.getByTestId('tree');
  await tree.waitFor({ timeout: 20_000 });
  const row = (key) => tree.locator(`tr[data-key="${key}"]`);
  await poll('the room in the tree', async () => (await row('chat_room/treeroom').count()) === 1);
  const keys = await tree.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key')));
  assert.equal(keys[0], 'registry/registry', keys.join(','));
  for (const k of ['chat_directory/chat', 'presence/presence', 'notifier/notifier']) assert.ok(keys.includes(k), `${k} in ${keys.join(',')}`);
  assert.equal(await row('presence/presence').getAttribute('data-state'), 'running');
  await screenshot(ap, 'admin-observer-tree');

  // Collapsing the root hides every other row; expanding brings them back.
  await ap.getByRole('button', { name: 'Collapse registry registry' }).click();
  await poll('only the root left', async () => (await tree.locator('tbody tr').count()) === 1);
  await ap.getByRole('button', { name: 'Expand registry registry' }).click();
  await poll('the children back', async () => (await tree.locator('tbody tr').count()) > 4);

  // Restart the room, with confirmation; its viewer rejoins and chat works.
  await row('chat_room/treeroom').getByRole('button', { name: 'Restart chat_room treeroom' }).click();
  const dialog = ap.getByRole('dialog');
  assert.match(await dialog.innerText(), /Restart chat room #treeroom\?/);
  await dialog.getByRole('button', { name: 'Restart' }).click();
  await poll('the room restart counted', async () => (await row('chat_room/treeroom').locator('td').nth(3).innerText()) === '1', 20_000);
  await say(hp, 'after the restart');
  await poll('a message after the restart', async () => (await chatLines(hp)).some((l) => l.includes('after the restart')), 20_000);

  // Restart presence; cancelling first does nothing.
  await row('presence/presence').getByRole('button', { name: 'Restart presence presence' }).click();
  await ap.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await ap.getByRole('dialog').count(), 0);
  await row('presence/presence').getByRole('button', { name: 'Restart presence presence' }).click();
  await ap.getByRole('dialog').getByRole('button', { name: 'Restart' }).click();
  await poll('presence restarted and running', async () => (await row('presence/presence').locator('td').nth(3).innerText()) === '1' && (await row('presence/presence').getAttribute('data-state')) === 'running', 20_000);

  // Top-N by restarts: the two restarted actors first.
  const top = ap.getByTestId('top');
  await top.getByRole('button', { name: 'Restarts' }).click();
  assert.equal(await top.locator('th[aria-sort="descending"]').innerText(), 'Restarts ↓');
  const firstTwo = await poll('the restarted actors on top', async () => {
    const k = await top.locator('tbody tr').evaluateAll((rows) => rows.slice(0, 2).map((r) => r.getAttribute('data-key')).sort());
    return k.join() === 'chat_room/treeroom,presence/presence' ? k : null;
  });
  assert.equal(firstTwo.length, 2);
  // Clicking again sorts ascending.
  await top.getByRole('button', { name: /Restarts/ }).click();
  assert.equal(await top.locator('th[aria-sort="ascending"]').count(), 1);
  await screenshot(ap, 'admin-observer-top');

  // The detail of presence: sparklines and its restart note as the last error.
  await tree.getByRole('button', { name: 'Details of presence presence' }).click();
  const detail = ap.getByTestId('detail');
  await detail.waitFor();
  assert.equal(await detail.locator('svg').count() >= 3, true);
  await poll('the restart in the last errors', async () => /restarted/.test(await detail.innerText()), 10_000);
  await screenshot(ap, 'admin-observer-detail');

  await ac.close();
  await hc.close();
  assert.deepEqual(errors, [], 'no errors in the pages');
});

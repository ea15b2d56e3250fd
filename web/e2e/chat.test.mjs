// Scenario 2: two people on a watch page chat with each other; the channel owner (a
// moderator) deletes a message and it disappears for the other.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, launchBrowser, poll, screenshot, signedInContext, startServer, watchConsole, register as registerAt, chatLines, say } from './harness.mjs';

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

const register = (username) => registerAt(server.url, username);

test('two viewers chat; a moderator deletes a message and it disappears for the other', async () => {
  const owner = await register('hostess');
  const guest = await register('guest');
  await apiCall(server.url, '/channels', {
    method: 'POST',
    token: owner.access_token,
    body: { slug: 'chatroom', title: 'Chat only' },
  });
  const errors = [];
  const oc = await signedInContext(browser, owner);
  const gc = await signedInContext(browser, guest);
  const op = await oc.newPage();
  const gp = await gc.newPage();
  watchConsole(op, errors);
  watchConsole(gp, errors);
  await op.goto(`${server.url}/c/chatroom`);
  await gp.goto(`${server.url}/c/chatroom`);
  // Both are connected and may post.
  for (const p of [op, gp]) await poll('the chat input', async () => p.getByLabel('Send a message').isEnabled());
  await poll('the owner connected', async () => (await op.locator('.chat-status').count()) === 0);
  await poll('the guest connected', async () => (await gp.locator('.chat-status').count()) === 0);

  await say(gp, 'hello from the guest');
  await poll('the owner sees the guest', async () => (await chatLines(op)).some((l) => l.includes('guest: hello from the guest')));
  await say(op, 'welcome :wave:');
  await poll('the guest sees the owner', async () => (await chatLines(gp)).some((l) => l.includes('hostess') && l.includes('welcome')));
  // Own messages are acknowledged: nothing stays pending.
  await poll('no pending messages', async () => (await gp.locator('.chat-line.pending').count()) === 0);
  await screenshot(op, 'watch-offline-chat');

  // The owner moderates: delete the guest's message.
  const line = op.locator('.chat-line', { hasText: 'hello from the guest' });
  await line.hover();
  await line.getByRole('button', { name: 'Delete message from guest' }).click();
  await poll('the message gone for the guest', async () => !(await chatLines(gp)).some((l) => l.includes('hello from the guest')));
  await poll('the message gone for the owner', async () => !(await chatLines(op)).some((l) => l.includes('hello from the guest')));
  assert.ok((await chatLines(gp)).some((l) => l.includes('welcome')), 'the other message stays');
  // Guests get no moderation buttons.
  assert.equal(await gp.getByRole('button', { name: /^Delete message/ }).count(), 0);

  // A refused message is shown with the reason.
  await apiCall(server.url, '/channels/chatroom/chat/blocked-terms', {
    method: 'PUT',
    token: owner.access_token,
    body: { terms: ['forbiddenword'] },
  });
  await say(gp, 'this has a forbiddenword in it');
  await gp.locator('.chat-line.rejected').waitFor({ timeout: 10_000 });
  assert.match(await gp.locator('.chat-line.rejected').innerText(), /Not sent/);
  await screenshot(gp, 'chat-rejected');
  assert.deepEqual(errors, []);
  await oc.close();
  await gc.close();
});

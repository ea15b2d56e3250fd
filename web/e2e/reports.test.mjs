// Scenario: a viewer reports a chat message (from its menu) and the channel (a reason and
// words) in Chromium, and is thanked. A site moderator works the queue in Admin → Reports:
// sees the message as it was and the chat around it, claims the case, deletes the message
// after confirming, and dismisses the channel's case. The message leaves the viewer's chat, the
// viewer's bell counts the outcomes, and the audit log lists every step.
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

const bellLabel = (page) => page.getByTestId('bell').getAttribute('aria-label');

test('a viewer reports a message and a channel; a moderator works the queue', async () => {
  const errors = [];
  const host = await register(server.url, 'reporthost');
  await apiCall(server.url, '/channels', { method: 'POST', token: host.access_token, body: { slug: 'reportroom', title: 'Report room' } });
  const troll = await register(server.url, 'spambot');
  const viewer = await register(server.url, 'goodviewer');
  const admin = await apiCall(server.url, '/auth/login', { method: 'POST', body: { login: 'admin', password: server.adminPassword } });
  const modUser = await register(server.url, 'sitemod');
  await apiCall(server.url, `/admin/users/${modUser.user.id}/role`, { method: 'PUT', token: admin.access_token, body: { role: 'moderator' } });
  const mod = await apiCall(server.url, '/auth/login', { method: 'POST', body: { login: 'sitemod', password: 'correct horse battery' } });

  // The troll posts; the viewer sees it.
  const tc = await signedInContext(browser, troll);
  const tp = await tc.newPage();
  watchConsole(tp, errors);
  await tp.goto(`${server.url}/c/reportroom`);
  await poll('the troll can chat', async () => tp.getByLabel('Send a message').isEnabled());
  const vc = await signedInContext(browser, viewer);
  const vp = await vc.newPage();
  watchConsole(vp, errors);
  await vp.goto(`${server.url}/c/reportroom`);
  await poll('the viewer can chat', async () => vp.getByLabel('Send a message').isEnabled());
  await say(vp, 'hello everyone');
  await say(tp, 'buy followers at spam dot example');
  await poll('the spam in the viewer chat', async () => (await chatLines(vp)).some((l) => l.includes('buy followers')));

  // Report the message from its menu.
  const line = vp.locator('.chat-line', { hasText: 'buy followers' });
  await line.hover();
  await line.getByRole('button', { name: 'Report message from spambot' }).click();
  let dialog = vp.getByRole('dialog');
  await dialog.getByLabel('Reason').selectOption('spam');
  await screenshot(vp, 'report-message-dialog');
  await dialog.getByRole('button', { name: 'Send report' }).click();
  await dialog.getByRole('heading', { name: "Thanks, we'll review it" }).waitFor();
  await dialog.getByRole('button', { name: 'Close' }).click();

  // Report the channel: "Something else" needs words.
  await vp.getByRole('button', { name: 'Report the channel reporthost' }).click();
  dialog = vp.getByRole('dialog');
  await dialog.getByLabel('Reason').selectOption('other');
  await dialog.getByRole('button', { name: 'Send report' }).click();
  assert.match(await dialog.getByRole('alert').innerText(), /what is wrong/i);
  await dialog.getByLabel(/What is wrong/).fill('the title is misleading');
  await dialog.getByRole('button', { name: 'Send report' }).click();
  await dialog.getByRole('heading', { name: "Thanks, we'll review it" }).waitFor();
  await dialog.getByRole('button', { name: 'Close' }).click();

  // The moderator opens the queue from the header.
  const mc = await signedInContext(browser, mod);
  const mp = await mc.newPage();
  watchConsole(mp, errors);
  await mp.goto(`${server.url}/`);
  await mp.getByRole('link', { name: 'Reports' }).first().click();
  const rows = mp.locator('tr[data-report]');
  await poll('two open cases', async () => (await rows.count()) === 2);
  assert.match(await rows.nth(0).innerText(), /chat message by spambot/);
  assert.match(await rows.nth(1).innerText(), /channel Report room/);
  await mp.getByLabel('Kind').selectOption('message');
  await poll('one message case', async () => (await rows.count()) === 1);
  await rows.nth(0).getByRole('button').click();
  const detail = mp.getByRole('region', { name: /Case/ });
  await detail.getByTestId('reported-text').waitFor();
  assert.match(await detail.getByTestId('reported-text').innerText(), /spambot: buy followers/);
  const context = await detail.getByRole('list', { name: 'Chat around the message' }).innerText();
  assert.match(context, /goodviewer: hello everyone/);
  assert.match(await detail.innerText(), /goodviewer: Spam/);
  await detail.getByRole('button', { name: 'Claim' }).click();
  await poll('claimed', async () => /Claimed by sitemod/.test(await detail.innerText()));

  // Delete the message: asked to confirm first.
  await detail.getByLabel('Action').selectOption('delete_message');
  await detail.getByLabel(/^Note/).fill('advertising');
  await screenshot(mp, 'reports-case-detail');
  await detail.getByRole('button', { name: 'Resolve' }).click();
  const confirm = mp.getByRole('dialog', { name: 'Delete the message?' });
  await confirm.getByRole('button', { name: 'Delete the message' }).click();
  await poll('the message gone from the viewer chat', async () => !(await chatLines(vp)).some((l) => l.includes('buy followers')));

  // The channel's case: dismissed.
  await mp.getByLabel('Kind').selectOption('');
  await mp.getByRole('tab', { name: 'Open' }).click();
  await poll('one open case left', async () => (await rows.count()) === 1);
  await rows.nth(0).getByRole('button').click();
  await detail.getByText(/the title is misleading/).waitFor();
  await detail.getByRole('button', { name: 'Resolve' }).click();
  await mp.getByRole('tab', { name: 'Resolved' }).click();
  await poll('two resolved cases', async () => (await rows.count()) === 2);
  await screenshot(mp, 'reports-resolved');

  // The viewer hears about both.
  await poll('the bell counts the outcomes', async () => (await bellLabel(vp)) === 'Notifications, 2 unread', 20_000);
  await vp.getByTestId('bell').click();
  const panel = vp.getByRole('dialog', { name: 'Notifications' });
  const text = await panel.innerText();
  assert.match(text, /Your report was reviewed/);
  assert.match(text, /action was taken/);
  assert.match(text, /no rule broken/);
  assert.doesNotMatch(text, /sitemod|spambot/);
  await screenshot(vp, 'report-outcome-notification');

  // Every step is in the audit log (admins read it).
  const audit = await apiCall(server.url, '/admin/audit?target_kind=report', { token: admin.access_token });
  assert.deepEqual(
    audit.items.map((e) => `${e.action} ${e.actor_name} ${e.detail.action ?? ''}`.trim()),
    ['report.resolve sitemod dismiss', 'report.resolve sitemod delete_message', 'report.claim sitemod'],
  );

  await mc.close();
  await vc.close();
  await tc.close();
  assert.deepEqual(errors, [], 'no errors in the pages');
});

// Scenario: a moderator (the channel owner) clicks a viewer's name in chat, times them out from
// the user card, finds the timeout in the dashboard's bans list and lifts it, then uses /ban and
// /unban; the viewer sees each step, mentions of the reader are highlighted, and a viewer typing
// a command is told it is for moderators (nothing is posted).
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

const notices = (page) => page.locator('.chat-log .chat-notice').allInnerTexts();

test('a moderator times out from the user card, lifts it from the bans list, and uses /ban and /unban', async () => {
  const owner = await register('modhost');
  const viewer = await register('rowdy');
  await apiCall(server.url, '/channels', { method: 'POST', token: owner.access_token, body: { slug: 'modroom', title: 'Moderated' } });
  await apiCall(server.url, '/channels/modroom/follow', { method: 'POST', token: viewer.access_token, body: {} });
  const errors = [];
  const oc = await signedInContext(browser, owner);
  const vc = await signedInContext(browser, viewer);
  const op = await oc.newPage();
  const vp = await vc.newPage();
  watchConsole(op, errors);
  watchConsole(vp, errors);
  await op.goto(`${server.url}/c/modroom`);
  await vp.goto(`${server.url}/c/modroom`);
  for (const p of [op, vp]) await poll('the chat input', async () => p.getByLabel('Send a message').isEnabled());
  await poll('the owner connected', async () => (await op.locator('.chat-head .menu').count()) === 1);

  // A mention of the reader is highlighted for them, not for the writer.
  await say(vp, 'hi @ModHost, nice stream');
  const line = op.locator('.chat-line', { hasText: 'nice stream' });
  await line.waitFor({ timeout: 10_000 });
  assert.match(await line.getAttribute('class'), /\bmentioned\b/);
  assert.equal(await line.locator('mark.mention').innerText(), '@ModHost');
  await poll('the writer sees it too', async () => (await chatLines(vp)).some((l) => l.includes('nice stream')));
  assert.equal(await vp.locator('.chat-line.mentioned').count(), 0);

  // The moderator buttons sit before the name and do not cover it.
  const name = line.getByRole('button', { name: 'rowdy', exact: true });
  const actions = line.getByRole('group', { name: 'Moderate rowdy' });
  const nb = await name.boundingBox();
  const ab = await actions.boundingBox();
  assert.ok(nb && ab, 'name and actions are drawn');
  const overlap = ab.x < nb.x + nb.width && nb.x < ab.x + ab.width && ab.y < nb.y + nb.height && nb.y < ab.y + ab.height;
  assert.ok(!overlap, `actions ${JSON.stringify(ab)} overlap the name ${JSON.stringify(nb)}`);

  // The user card: who they are, then a 10-minute timeout.
  await name.click();
  const card = op.getByRole('dialog', { name: 'User card: rowdy' });
  await card.waitFor({ timeout: 10_000 });
  await poll('the card loaded', async () => (await card.innerText()).includes('created less than a minute ago'));
  const text = await card.innerText();
  assert.match(text, /@rowdy/);
  assert.match(text, /Follows\s*for less than a minute/);
  assert.equal(await card.getByLabel('Timeout length').inputValue(), '600');
  assert.ok((await card.getByLabel('Timeout length').locator('option').allInnerTexts()).includes('10 minutes'));
  await screenshot(op, 'user-card-desktop');
  await card.getByRole('button', { name: 'Time out' }).click();
  await poll('the card shows the timeout', async () => /Timed out: (9|10) minutes/.test(await card.innerText()));
  assert.ok(await card.getByRole('button', { name: 'Lift timeout' }).isVisible());
  await poll('the viewer is told', async () => (await notices(vp)).some((n) => n === 'You were timed out for 10 minutes by modhost.'));
  await poll('the viewer cannot post', async () => !(await vp.getByLabel('Send a message').isEnabled()));
  await poll('the room hears it', async () => (await notices(op)).some((n) => n === 'rowdy was timed out for 10 minutes by modhost.'));
  await op.keyboard.press('Escape');
  await poll('the card closes on Escape', async () => (await card.count()) === 0);
  assert.equal(await op.evaluate(() => document.activeElement?.textContent), 'rowdy', 'focus is back on the name');

  // The bans list in the dashboard shows it in words, and lifts it.
  const dash = await oc.newPage();
  watchConsole(dash, errors);
  await dash.goto(`${server.url}/dashboard?channel=modroom&tab=chat`);
  const row = dash.locator('.ban-list li', { hasText: 'rowdy' });
  await row.waitFor({ timeout: 10_000 });
  assert.match(await row.innerText(), /timed out, (9|10) minutes/);
  await row.scrollIntoViewIfNeeded();
  await screenshot(dash, 'bans-list-desktop');
  await dash.setViewportSize({ width: 390, height: 844 });
  await row.scrollIntoViewIfNeeded();
  await screenshot(dash, 'bans-list-phone');
  await row.getByRole('button', { name: 'Lift the timeout of rowdy' }).click();
  await dash.getByText('Nobody is banned or timed out.').waitFor({ timeout: 10_000 });
  await poll('the viewer may chat again', async () => (await notices(vp)).includes('You may chat again.'));
  await poll('the viewer input is back', async () => vp.getByLabel('Send a message').isEnabled());
  await dash.close();

  // Commands: /ban with a reason, /unban, and errors inline.
  await say(op, '/ban rowdy spamming links');
  await poll('the viewer is banned', async () => (await notices(vp)).includes('You were banned from this chat by modhost: spamming links'));
  assert.equal(await op.getByLabel('Send a message').inputValue(), '', 'a command that worked clears the input');
  await say(op, '/unban rowdy');
  await poll('the viewer is unbanned', async () => (await notices(vp)).filter((n) => n === 'You may chat again.').length === 2);
  await say(op, '/unban rowdy');
  const alert = op.locator('#chat-cmd-error');
  await poll('nothing to lift', async () => (await alert.count()) === 1 && (await alert.innerText()) === 'rowdy is not banned or timed out.');
  assert.equal(await op.getByLabel('Send a message').inputValue(), '/unban rowdy', 'a failed command stays to be fixed');
  await say(op, '/timeout nobodyhere 10m');
  await poll('unknown user', async () => (await alert.innerText()) === 'Unknown user nobodyhere.');
  await say(op, '/timeout rowdy 10x');
  await poll('a bad duration', async () => (await alert.innerText()).startsWith('"10x" is not a duration'));
  await screenshot(op, 'chat-command-error');

  // A viewer's command is refused in place and never posted.
  await say(vp, '/ban modhost');
  await poll('the viewer is told', async () =>
    (await vp.locator('#chat-cmd-error').count()) === 1 && /not a moderator/.test(await vp.locator('#chat-cmd-error').innerText()),
  );
  await say(vp, 'plain message after');
  await poll('the plain message arrives', async () => (await chatLines(op)).some((l) => l.includes('plain message after')));
  assert.ok(!(await chatLines(op)).some((l) => l.includes('/ban')), 'the command was not posted');

  // The card on a phone.
  await op.setViewportSize({ width: 390, height: 844 });
  const phoneLine = op.locator('.chat-line', { hasText: 'nice stream' });
  const pn = await phoneLine.getByRole('button', { name: 'rowdy', exact: true }).boundingBox();
  const pa = await phoneLine.getByRole('group', { name: 'Moderate rowdy' }).boundingBox();
  assert.ok(pn && pa && pa.x + pa.width <= pn.x, `on a phone too, the actions ${JSON.stringify(pa)} come before the name ${JSON.stringify(pn)}`);
  await screenshot(op, 'chat-mod-row-phone');
  await op.locator('.chat-line', { hasText: 'plain message after' }).getByRole('button', { name: 'rowdy', exact: true }).click();
  await card.waitFor({ timeout: 10_000 });
  await poll('the phone card loaded', async () => (await card.innerText()).includes('created'));
  assert.doesNotMatch(await card.innerText(), /Timed out|Banned/, 'a fresh card, not the one from before the lifting');
  const box = await card.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the card fits the phone: ${JSON.stringify(box)}`);
  await screenshot(op, 'user-card-phone');

  assert.deepEqual(errors, []);
  await oc.close();
  await vc.close();
});

import { describe, expect, it } from 'vitest';
import { actionsFor, caseTitle, reportRequest, resolveRequest } from './reports';

const channel = { kind: 'channel' as const, target: 'vods', label: 'vods' };

describe('reportRequest', () => {
  it('needs a reason, and words for "other"', () => {
    expect(reportRequest(channel, '', '')).toEqual({ problem: 'Choose a reason.' });
    expect(reportRequest(channel, 'other', '  ')).toEqual({ problem: 'Tell us what is wrong.' });
    expect(reportRequest(channel, 'spam', 'x'.repeat(1001))).toHaveProperty('problem');
  });
  it('sends the message id and trimmed details', () => {
    expect(reportRequest({ kind: 'message', target: 'vods', message_id: 7, label: 'm' }, 'hate', ' bad ')).toEqual({
      kind: 'message',
      target: 'vods',
      message_id: 7,
      reason: 'hate',
      details: 'bad',
    });
    expect(reportRequest(channel, 'spam', '')).toEqual({ kind: 'channel', target: 'vods', reason: 'spam' });
  });
});

describe('actions', () => {
  it('fit the kind of case', () => {
    expect(actionsFor('message').map((a) => a.id)).toEqual(['dismiss', 'delete_message', 'suspend']);
    expect(actionsFor('channel').map((a) => a.id)).toEqual(['dismiss', 'end_stream', 'suspend']);
    expect(actionsFor('clip').map((a) => a.id)).toEqual(['dismiss', 'take_down', 'suspend']);
  });
  it('a suspension carries its length', () => {
    expect(resolveRequest('suspend', 'rules', '1d')).toEqual({ action: 'suspend', note: 'rules', duration_secs: 86400 });
    expect(resolveRequest('suspend', '', 'permanent')).toEqual({ action: 'suspend', permanent: true });
    expect(resolveRequest('dismiss', '', '1d')).toEqual({ action: 'dismiss' });
    expect(resolveRequest('nuke', '', '1d')).toEqual({ problem: 'Choose an action.' });
  });
});

describe('caseTitle', () => {
  it('names what was reported from the snapshot', () => {
    expect(caseTitle({ kind: 'message', snapshot: { live: false, author_name: 'troll', channel_title: 'Vods' } })).toBe(
      'A chat message by troll in Vods',
    );
    expect(caseTitle({ kind: 'channel', snapshot: { live: true, channel_slug: 'x' } })).toBe('The channel x (live when reported)');
  });
});

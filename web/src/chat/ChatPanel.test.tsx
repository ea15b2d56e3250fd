import { render } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderText } from './ChatPanel';

const emotes = new Map([[':wave:', '/emotes/wave.svg']]);

describe('renderText', () => {
  it('highlights mentions of the reader and keeps emotes around them', () => {
    const { container } = render(<p>{renderText('hi @Ann :wave: and @anna', emotes, 'ann')}</p>);
    const marks = container.querySelectorAll('mark.mention');
    expect(marks).toHaveLength(1);
    expect(marks[0].textContent).toBe('@Ann');
    expect(container.querySelector('img.emote')?.getAttribute('alt')).toBe(':wave:');
    expect(container.textContent).toBe('hi @Ann  and @anna');
  });

  it('never reads text as HTML', () => {
    const { container } = render(<p>{renderText('<b>@ann</b>', new Map(), 'ann')}</p>);
    expect(container.querySelector('b')).toBeNull();
    expect(container.querySelector('mark')?.textContent).toBe('@ann');
  });

  it('leaves text without emotes or mentions as it is', () => {
    expect(renderText('plain', new Map(), 'ann')).toBe('plain');
    expect(renderText('@ann', new Map(), null)).toBe('@ann');
  });
});

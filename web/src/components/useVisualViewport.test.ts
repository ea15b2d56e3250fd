import { visibleArea } from './useVisualViewport';

describe('the visible area below the top bar', () => {
  it('is the screen below the bar with no keyboard', () => {
    expect(visibleArea(54, { offsetTop: 0, height: 844 }, 844)).toEqual({ top: 54, height: 790, keyboard: false });
  });

  it('ends at the top of the keyboard', () => {
    // A 336 px keyboard over a 844 px screen.
    expect(visibleArea(54, { offsetTop: 0, height: 508 }, 844)).toEqual({ top: 54, height: 454, keyboard: true });
  });

  it('starts at the top of what is visible when the browser scrolled the bar away', () => {
    expect(visibleArea(54, { offsetTop: 120, height: 508 }, 844)).toEqual({ top: 120, height: 508, keyboard: true });
    expect(visibleArea(54, { offsetTop: 30, height: 508 }, 844)).toEqual({ top: 54, height: 484, keyboard: true });
  });
});

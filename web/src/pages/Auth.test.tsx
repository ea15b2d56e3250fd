import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router-dom';
import { ApiError } from '../api/client';
import { Register, fieldErrors } from './Auth';

const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

function renderRegister() {
  render(
    <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
      <Register />
    </MemoryRouter>,
  );
}

async function fill(username: string, email: string, password: string) {
  if (username) await userEvent.type(screen.getByLabelText('Username'), username);
  if (email) await userEvent.type(screen.getByLabelText('Email'), email);
  if (password) await userEvent.type(screen.getByLabelText('Password'), password);
  await userEvent.click(screen.getByRole('button', { name: 'Sign up' }));
}

describe('register form', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('marks every invalid field at once before sending anything', async () => {
    const fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    renderRegister();
    await fill('a!', 'ann@', 'short');
    const expected = {
      username: '3 to 32 characters: letters, digits and _',
      email: 'not a valid email address',
      password: 'passwords are 8 to 128 characters',
    };
    for (const [name, message] of Object.entries(expected)) {
      const input = document.getElementById(`reg-${name}`)!;
      expect(screen.getByText(message)).toHaveAttribute('id', `reg-${name}-error`);
      expect(input).toHaveAttribute('aria-invalid', 'true');
      expect(input).toHaveAttribute('aria-describedby', `reg-${name}-error`);
    }
    expect(fetchMock).not.toHaveBeenCalled();
    // The first invalid field gets the focus, so a screen reader reads its error.
    await vi.waitFor(() => expect(document.activeElement).toBe(screen.getByLabelText('Username')));
    // Fixing one field clears only its error on the next try.
    await userEvent.clear(screen.getByLabelText('Username'));
    await userEvent.type(screen.getByLabelText('Username'), 'ann');
    await userEvent.click(screen.getByRole('button', { name: 'Sign up' }));
    expect(screen.getByLabelText('Username')).toHaveAttribute('aria-invalid', 'false');
    expect(screen.getByLabelText('Email')).toHaveAttribute('aria-invalid', 'true');
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('shows every field error the API names next to its field', async () => {
    const fetchMock = vi.fn(async () =>
      json(
        {
          error: 'invalid_field',
          message: 'reserved name',
          field: 'username',
          fields: [
            { field: 'username', message: 'reserved name' },
            { field: 'email', message: 'that domain does not take mail' },
          ],
        },
        422,
      ),
    );
    vi.stubGlobal('fetch', fetchMock);
    renderRegister();
    await fill('admin', 'ann@example.com', 'long enough');
    expect(await screen.findByText('reserved name')).toHaveAttribute('id', 'reg-username-error');
    expect(screen.getByText('that domain does not take mail')).toHaveAttribute('id', 'reg-email-error');
    expect(screen.getByLabelText('Password')).toHaveAttribute('aria-invalid', 'false');
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/auth/register');
    expect(JSON.parse(String(init.body))).toEqual({ username: 'admin', email: 'ann@example.com', password: 'long enough' });
  });

  it('shows other errors above the form, durations in words', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json({ error: 'rate_limited', message: 'too many requests' }, 429, { 'retry-after': '90' })));
    renderRegister();
    await fill('ann', 'ann@example.com', 'long enough');
    expect(await screen.findByText('Too many attempts: try again in 1 minute 30 seconds.')).toHaveClass('form-error');
  });
});

describe('fieldErrors', () => {
  it('keeps an older server single `field`, and puts fields the form lacks above it', () => {
    expect(fieldErrors(new ApiError(422, { error: 'invalid_field', message: 'too short', field: 'title' }), ['title'])).toEqual({ title: 'too short' });
    const e = new ApiError(422, {
      error: 'invalid_field',
      message: 'bad',
      field: 'body',
      fields: [
        { field: 'body', message: 'bad' },
        { field: 'title', message: 'too long' },
      ],
    });
    expect(fieldErrors(e, ['title'])).toEqual({ title: 'too long', form: 'bad' });
    expect(fieldErrors(new ApiError(409, { error: 'conflict', message: 'taken', field: 'slug' }), ['slug'])).toEqual({ slug: 'taken' });
    expect(fieldErrors(new Error('boom'), ['slug'])).toEqual({ form: 'boom' });
  });
});

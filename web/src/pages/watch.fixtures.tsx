import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { ToastProvider } from '../components/Toasts';
import { Watch } from './Watch';

/** The watch page of /c/anns-room with the app's providers (fetch and sockets stubbed by the test). */
export function renderWatch() {
  return render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={['/c/anns-room']} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <ToastProvider>
          <Routes>
            <Route path="/c/:slug" element={<Watch />} />
          </Routes>
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

/** The chat socket: never opens in these tests; remembers the URLs it was asked for. */
export class NoSocket {
  static OPEN = 1;
  static urls: string[] = [];
  readyState = 0;
  constructor(url: string) {
    NoSocket.urls.push(url);
  }
  addEventListener() {}
  close() {}
  send() {}
  set onopen(_: unknown) {}
  set onmessage(_: unknown) {}
  set onclose(_: unknown) {}
  set onerror(_: unknown) {}
}

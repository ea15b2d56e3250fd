import { Suspense, lazy, useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, NavLink, Route, Routes, useLocation, useNavigate, useSearchParams } from 'react-router-dom';
import { useQueryClient } from '@tanstack/react-query';
import { useMe } from './api/session';
import { tokens } from './api/tokens';
import { applyTheme, storedTheme, type Theme } from './components/theme';
import { useToast } from './components/Toasts';
import { Home } from './pages/Home';
import { Watch } from './pages/Watch';
import { Login, Register } from './pages/Auth';
import { Dashboard } from './pages/Dashboard';
import { Settings } from './pages/Settings';
import { Admin } from './pages/Admin';
import { AdminUsers } from './pages/AdminUsers';
import { AdminAudit } from './pages/AdminAudit';
import { AdminDmca, AdminDmcaDetailPage } from './pages/AdminDmca';
import { DmcaCasePage, DmcaNoticePage } from './pages/Dmca';
import { AdminReports } from './pages/AdminReports';
import { isStaff } from './admin/users';
import { Guidelines, NotFound, Privacy, Terms } from './pages/Static';
import { Following } from './pages/Following';
import { ForgotPassword, ResetPassword, VerifyBanner, VerifyEmail } from './pages/Account';
import { Loading } from './components/States';
import { Bell } from './notify/Bell';
import { NotificationsProvider } from './notify/NotificationsProvider';

// Charts and tables for creators only: a chunk of their own, fetched when the page opens.
const Analytics = lazy(() => import('./pages/Analytics'));
// Recorded videos and clips: their own chunks too, so the home page does not carry them.
const VideoPage = lazy(() => import('./pages/VideoPage').then((m) => ({ default: m.VideoPage })));
const ClipPage = lazy(() => import('./pages/ClipPage').then((m) => ({ default: m.ClipPage })));

export function App() {
  const location = useLocation();
  // The live page fills the screen (player and chat); a channel's videos and clips do not.
  const watching = /^\/c\/[^/]+\/?$/.test(location.pathname);
  // Land keyboard users on the new page, not on the link they followed.
  const mainRef = useRef<HTMLElement>(null);
  useEffect(() => {
    window.scrollTo(0, 0);
  }, [location.pathname]);
  return (
    <NotificationsProvider>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <TopBar />
      <main id="main" ref={mainRef} tabIndex={-1} className={watching ? 'full' : undefined}>
        <VerifyBanner />
        <Routes>
          <Route path="/" element={<Home />} />
          <Route path="/c/:slug" element={<Watch />} />
          <Route path="/c/:slug/videos" element={<Watch tab="videos" />} />
          <Route path="/c/:slug/clips" element={<Watch tab="clips" />} />
          <Route
            path="/v/:id"
            element={
              <Suspense fallback={<Loading label="Loading the video" />}>
                <VideoPage />
              </Suspense>
            }
          />
          <Route
            path="/clip/:id"
            element={
              <Suspense fallback={<Loading label="Loading the clip" />}>
                <ClipPage />
              </Suspense>
            }
          />
          <Route path="/login" element={<Login />} />
          <Route path="/register" element={<Register />} />
          <Route path="/forgot" element={<ForgotPassword />} />
          <Route path="/reset" element={<ResetPassword />} />
          <Route path="/verify-email" element={<VerifyEmail />} />
          <Route path="/dashboard" element={<Dashboard />} />
          <Route
            path="/dashboard/:slug/analytics"
            element={
              <Suspense fallback={<Loading label="Loading analytics" />}>
                <Analytics />
              </Suspense>
            }
          />
          <Route path="/following" element={<Following />} />
          <Route path="/settings" element={<Settings />} />
          <Route path="/admin" element={<Admin />} />
          <Route path="/admin/users" element={<AdminUsers />} />
          <Route path="/admin/audit" element={<AdminAudit />} />
          <Route path="/admin/dmca" element={<AdminDmca />} />
          <Route path="/admin/dmca/:id" element={<AdminDmcaDetailPage />} />
          <Route path="/dmca" element={<DmcaNoticePage />} />
          <Route path="/dmca/notices/:id" element={<DmcaCasePage />} />
          <Route path="/admin/reports" element={<AdminReports />} />
          <Route path="/terms" element={<Terms />} />
          <Route path="/privacy" element={<Privacy />} />
          <Route path="/guidelines" element={<Guidelines />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
      {!watching && <SiteFooter />}
    </NotificationsProvider>
  );
}

function Logo() {
  return (
    <svg viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="var(--accent)" />
      <path d="M12 9v14l11-7z" fill="#fff" />
    </svg>
  );
}

function TopBar() {
  const me = useMe();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [q, setQ] = useState(params.get('q') ?? '');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    navigate(q.trim() ? `/?q=${encodeURIComponent(q.trim())}` : '/');
  };
  return (
    <header className="topbar">
      <Link to="/" className="brand" aria-label="streamhall home">
        <Logo />
        <span>streamhall</span>
      </Link>
      <nav className="topnav" aria-label="Main">
        <NavLink to="/" end>
          Browse
        </NavLink>
        {me && <NavLink to="/following">Following</NavLink>}
        {me && <NavLink to="/dashboard">Creator dashboard</NavLink>}
        {me?.role === 'admin' && <NavLink to="/admin">Admin</NavLink>}
        {me?.role === 'moderator' && <NavLink to="/admin/users">Users</NavLink>}
        {isStaff(me) && <NavLink to="/admin/reports">Reports</NavLink>}
      </nav>
      <form className="search" role="search" onSubmit={submit}>
        <label htmlFor="site-search" className="visually-hidden">
          Search channels
        </label>
        <input id="site-search" type="search" placeholder="Search" value={q} onChange={(e) => setQ(e.target.value)} />
        <button type="submit" aria-label="Search">
          <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
            <path fill="currentColor" d="M10 2a8 8 0 0 1 6.32 12.9l5.39 5.4-1.41 1.4-5.4-5.38A8 8 0 1 1 10 2zm0 2a6 6 0 1 0 0 12 6 6 0 0 0 0-12z" />
          </svg>
        </button>
      </form>
      <div className="topbar-right">
        {me ? (
          <>
            <Bell />
            <UserMenu />
          </>
        ) : (
          <>
            {/* Both on every screen: a phone shows them compact rather than dropping one. */}
            <Link className="button auth-link" to="/login">
              Log in
            </Link>
            <Link className="button primary auth-link" to="/register">
              Sign up
            </Link>
          </>
        )}
        {!me && <ThemeButton />}
      </div>
    </header>
  );
}

function ThemeButton() {
  const [theme, setTheme] = useState<Theme>(storedTheme());
  const next: Theme = theme === 'dark' ? 'light' : 'dark';
  return (
    <button
      className="icon ghost"
      aria-label={`Switch to ${next} theme`}
      title={`Switch to ${next} theme`}
      onClick={() => {
        applyTheme(next);
        setTheme(next);
      }}
    >
      {theme === 'dark' ? '☀' : '☾'}
    </button>
  );
}

function UserMenu() {
  const me = useMe();
  const [open, setOpen] = useState(false);
  const [theme, setTheme] = useState<Theme>(storedTheme());
  const ref = useRef<HTMLDivElement>(null);
  const navigate = useNavigate();
  const toast = useToast();
  const qc = useQueryClient();
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (!ref.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);
  if (!me) return null;
  const logout = async () => {
    setOpen(false);
    await tokens.logout();
    qc.clear();
    toast.show('Signed out');
    navigate('/');
  };
  return (
    <div className="menu" ref={ref} onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}>
      <button
        className="icon ghost"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={`Account menu for ${me.username}`}
        onClick={() => setOpen((o) => !o)}
      >
        <span className="avatar" style={{ width: 30, height: 30 }} aria-hidden="true">
          {me.username.slice(0, 1)}
        </span>
      </button>
      {open && (
        <div className="menu-list" role="menu">
          <div className="muted small" style={{ padding: '6px 10px' }}>
            Signed in as <strong>{me.username}</strong>
          </div>
          <Link role="menuitem" to="/following" onClick={() => setOpen(false)}>
            Following
          </Link>
          <Link role="menuitem" to="/dashboard" onClick={() => setOpen(false)}>
            Creator dashboard
          </Link>
          <Link role="menuitem" to="/settings" onClick={() => setOpen(false)}>
            Settings
          </Link>
          {me.role === 'admin' && (
            <Link role="menuitem" to="/admin" onClick={() => setOpen(false)}>
              Admin
            </Link>
          )}
          {isStaff(me) && (
            <Link role="menuitem" to="/admin/users" onClick={() => setOpen(false)}>
              Users
            </Link>
          )}
          {isStaff(me) && (
            <Link role="menuitem" to="/admin/reports" onClick={() => setOpen(false)}>
              Reports
            </Link>
          )}
          <button
            role="menuitemcheckbox"
            aria-checked={theme === 'dark'}
            onClick={() => {
              const next = theme === 'dark' ? 'light' : 'dark';
              applyTheme(next);
              setTheme(next);
            }}
          >
            Dark theme: {theme === 'dark' ? 'on' : 'off'}
          </button>
          <div className="sep" />
          <button role="menuitem" onClick={logout}>
            Log out
          </button>
        </div>
      )}
    </div>
  );
}

function SiteFooter() {
  return (
    <footer className="site">
      <span>streamhall</span>
      <Link to="/terms">Terms</Link>
      <Link to="/privacy">Privacy</Link>
      <Link to="/guidelines">Content guidelines</Link>
      <Link to="/dmca">Copyright (DMCA)</Link>
      <a href="/api/v1/openapi.json">API</a>
    </footer>
  );
}

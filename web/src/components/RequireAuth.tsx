import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router-dom';
import { useMe } from '../api/session';
import { isStaff } from '../admin/users';

/** Sends signed-out visitors to the login page, and back here afterwards. */
export function RequireAuth({ children, admin, staff }: { children: ReactNode; admin?: boolean; staff?: boolean }) {
  const me = useMe();
  const location = useLocation();
  if (!me) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  if ((admin && me.role !== 'admin') || (staff && !isStaff(me))) {
    return (
      <div className="empty">
        <h1>Administrators only</h1>
        <p className="muted">Your account cannot open this page.</p>
      </div>
    );
  }
  return <>{children}</>;
}

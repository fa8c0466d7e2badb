import type { ReactNode } from "react";
import { Link, Navigate, Route, Routes, useLocation } from "react-router";
import { Admin } from "./pages/Admin";
import { CustomerHome, MyOrders, OrderPage, StorePage } from "./pages/Customer";
import { Login } from "./pages/Login";
import { Rider } from "./pages/Rider";
import { OwnerHome, OwnerStore } from "./pages/Owner";
import { useSession, type Role } from "./session";

export const HOME: Record<Role, string> = {
  customer: "/customer",
  store_owner: "/owner",
  rider: "/rider",
  admin: "/admin",
};

const ROLE_NAME: Record<Role, string> = {
  customer: "고객",
  store_owner: "사장님",
  rider: "라이더",
  admin: "운영자",
};

function Guard({ role, children }: { role: Role; children: ReactNode }) {
  const { session } = useSession();
  const location = useLocation();
  if (!session) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  if (session.role !== role) return <Navigate to={HOME[session.role]} replace />;
  return <>{children}</>;
}

function Header() {
  const { session, signOut } = useSession();
  return (
    <header className="top">
      <Link to={session ? HOME[session.role] : "/login"} className="brand">
        eats
      </Link>
      {session && (
        <div className="who">
          <span>
            {session.name} · {ROLE_NAME[session.role]}
          </span>
          <button type="button" className="link" onClick={signOut}>
            로그아웃
          </button>
        </div>
      )}
    </header>
  );
}

export function App() {
  const { session } = useSession();
  return (
    <>
      <Header />
      <main>
        <Routes>
          <Route path="/login" element={<Login />} />
          <Route
            path="/customer"
            element={
              <Guard role="customer">
                <CustomerHome />
              </Guard>
            }
          />
          <Route
            path="/customer/stores/:storeId"
            element={
              <Guard role="customer">
                <StorePage />
              </Guard>
            }
          />
          <Route
            path="/customer/orders"
            element={
              <Guard role="customer">
                <MyOrders />
              </Guard>
            }
          />
          <Route
            path="/customer/orders/:orderId"
            element={
              <Guard role="customer">
                <OrderPage />
              </Guard>
            }
          />
          <Route
            path="/owner"
            element={
              <Guard role="store_owner">
                <OwnerHome />
              </Guard>
            }
          />
          <Route
            path="/owner/stores/:storeId"
            element={
              <Guard role="store_owner">
                <OwnerStore />
              </Guard>
            }
          />
          <Route
            path="/rider"
            element={
              <Guard role="rider">
                <Rider />
              </Guard>
            }
          />
          <Route
            path="/admin"
            element={
              <Guard role="admin">
                <Admin />
              </Guard>
            }
          />
          <Route
            path="*"
            element={<Navigate to={session ? HOME[session.role] : "/login"} replace />}
          />
        </Routes>
      </main>
    </>
  );
}

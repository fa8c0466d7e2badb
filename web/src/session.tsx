// Who is signed in: the token (from the development sign-in or an identity provider), its
// role and user, kept in localStorage so a reload stays signed in. One API client per token.
import { createEatsClient, type EatsClient } from "eats-client";
import { createContext, useContext, useMemo, useState, type ReactNode } from "react";

export type Role = "customer" | "store_owner" | "rider" | "admin";

export interface Session {
  token: string;
  role: Role;
  userId: string;
  name: string;
}

const KEY = "eats.session";

function load(): Session | null {
  const raw = localStorage.getItem(KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Session;
  } catch {
    localStorage.removeItem(KEY);
    return null;
  }
}

/** The claims of a JWT, read (not verified: the server verifies) to learn role and user. */
export function claimsOf(token: string): { sub: string; role: Role } | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as { sub?: unknown; role?: unknown };
    const roles: Role[] = ["customer", "store_owner", "rider", "admin"];
    if (typeof claims.sub !== "string" || !roles.includes(claims.role as Role)) return null;
    return { sub: claims.sub, role: claims.role as Role };
  } catch {
    return null;
  }
}

interface SessionContext {
  session: Session | null;
  client: EatsClient;
  signIn: (session: Session) => void;
  signOut: () => void;
}

const Context = createContext<SessionContext | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(load);
  const value = useMemo<SessionContext>(
    () => ({
      session,
      client: createEatsClient({
        baseUrl: window.location.origin,
        ...(session ? { token: session.token } : {}),
      }),
      signIn: (next) => {
        localStorage.setItem(KEY, JSON.stringify(next));
        setSession(next);
      },
      signOut: () => {
        localStorage.removeItem(KEY);
        setSession(null);
      },
    }),
    [session],
  );
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useSession(): SessionContext {
  const context = useContext(Context);
  if (!context) throw new Error("useSession outside SessionProvider");
  return context;
}

/** The signed-in session; pages under a role's route are only shown with one. */
export function useSignedIn(): SessionContext & { session: Session } {
  const context = useSession();
  if (!context.session) throw new Error("not signed in");
  return context as SessionContext & { session: Session };
}

// Sign-in: the development sign-in (a role and a name; the server mints the token) when the
// server offers it, or a token from the operator's identity provider pasted in.
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { HOME } from "../App";
import { problemText } from "../format";
import { claimsOf, useSession, type Role } from "../session";

const ROLES: { value: Role; label: string }[] = [
  { value: "customer", label: "고객 (주문하기)" },
  { value: "store_owner", label: "사장님 (가게 운영)" },
  { value: "rider", label: "라이더 (배달하기)" },
  { value: "admin", label: "운영자" },
];

export function Login() {
  const { client, signIn } = useSession();
  const navigate = useNavigate();
  const [role, setRole] = useState<Role>("customer");
  const [name, setName] = useState("");
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);

  const devLogin = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const { data, error } = await client.POST("/dev/login", { body: { role, name } });
    if (!data) {
      setError(problemText(error, "로그인하지 못했습니다"));
      return;
    }
    signIn({ token: data.token, role: data.role, userId: data.user_id, name: data.name });
    navigate(HOME[data.role]);
  };

  const tokenLogin = (event: FormEvent) => {
    event.preventDefault();
    const claims = claimsOf(token.trim());
    if (!claims) {
      setError("토큰을 읽을 수 없습니다 (sub, role 클레임이 필요합니다)");
      return;
    }
    signIn({
      token: token.trim(),
      role: claims.role,
      userId: claims.sub,
      name: claims.sub.slice(0, 8),
    });
    navigate(HOME[claims.role]);
  };

  return (
    <div className="narrow">
      <h1>eats 로그인</h1>
      <form onSubmit={devLogin} className="card">
        <h2>개발용 로그인</h2>
        <fieldset>
          <legend>역할</legend>
          {ROLES.map((r) => (
            <label key={r.value} className="choice">
              <input
                type="radio"
                name="role"
                value={r.value}
                checked={role === r.value}
                onChange={() => setRole(r.value)}
              />
              {r.label}
            </label>
          ))}
        </fieldset>
        <label>
          이름
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={50} />
        </label>
        <button type="submit">로그인</button>
      </form>
      <form onSubmit={tokenLogin} className="card">
        <h2>토큰으로 로그인</h2>
        <p className="hint">운영 환경에서는 ID 공급자가 발급한 토큰(JWT)을 붙여 넣으세요.</p>
        <label>
          토큰
          <textarea value={token} onChange={(e) => setToken(e.target.value)} rows={3} required />
        </label>
        <button type="submit">토큰 사용</button>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}

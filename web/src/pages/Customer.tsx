// The customer: register, stores near me, a store's menu and the cart, the order page that
// follows the order live (with its timeline, payment, cancel and confirm), my orders.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import type { Schemas } from "eats-client";
import { useCallback, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import {
  formatDistance,
  formatTime,
  formatWon,
  gradeLabel,
  problemText,
  statusLabel,
} from "../format";
import { ConnectionBadge, useLiveStream } from "../live";
import { useSignedIn } from "../session";
import { CITY_HALL, ErrorText, PointInput, followUp, newKey, type Point } from "./common";

function distanceM(a: Point, b: Point): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return Math.round(2 * 6371000 * Math.asin(Math.sqrt(h)));
}

function useProfile() {
  const { client, session } = useSignedIn();
  return useQuery({
    queryKey: ["me", session.userId],
    queryFn: async () => {
      const { data, response } = await client.GET("/customers/me");
      if (response.status === 404) return null;
      if (!data) throw new Error(`profile: ${response.status}`);
      return data;
    },
  });
}

function Register({ onDone }: { onDone: () => void }) {
  const { client, session } = useSignedIn();
  const [name, setName] = useState(session.name);
  const [phone, setPhone] = useState("010-");
  const [address, setAddress] = useState("");
  const [location, setLocation] = useState<Point>(CITY_HALL);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const { error } = await client.POST("/customers", {
      body: { name, phone, address, location },
    });
    if (error) setError(problemText(error));
    else onDone();
  };
  return (
    <form onSubmit={submit} className="card narrow">
      <h1>회원 가입</h1>
      <label>
        이름
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={50} />
      </label>
      <label>
        휴대폰 번호
        <input
          value={phone}
          onChange={(e) => setPhone(e.target.value)}
          required
          inputMode="tel"
          autoComplete="tel"
        />
      </label>
      <label>
        주소
        <input
          value={address}
          onChange={(e) => setAddress(e.target.value)}
          required
          autoComplete="street-address"
        />
      </label>
      <PointInput value={location} onChange={setLocation} idPrefix="home" />
      <button type="submit">가입하기</button>
      <ErrorText text={error} />
    </form>
  );
}

export function CustomerHome() {
  const { client } = useSignedIn();
  const profile = useProfile();
  const stores = useQuery({
    queryKey: ["stores"],
    queryFn: async () => {
      const { data } = await client.GET("/stores", { params: { query: { limit: 200 } } });
      if (!data) throw new Error("stores");
      return data.items;
    },
    enabled: !!profile.data,
  });
  if (profile.isPending) return <p>불러오는 중…</p>;
  if (!profile.data) return <Register onDone={() => followUp(profile.refetch)} />;
  const me = profile.data;
  const near = [...(stores.data ?? [])]
    .map((s) => ({ ...s, distance: distanceM(me.location, s.location) }))
    .sort((a, b) => Number(b.open) - Number(a.open) || a.distance - b.distance);
  return (
    <div className="phone">
      <section className="card" aria-labelledby="me-title">
        <h1 id="me-title">{me.name}님, 안녕하세요</h1>
        <p>
          등급 <strong data-testid="grade">{gradeLabel(me.grade)}</strong> · 완료한 주문{" "}
          <span data-testid="completed">{me.completed_orders}</span>건
        </p>
        <Link to="/customer/orders">내 주문 보기</Link>
      </section>
      <section aria-labelledby="stores-title">
        <h2 id="stores-title">가까운 가게</h2>
        <ul className="list">
          {near.map((s) => (
            <li key={s.store_id} className={s.open ? "" : "closed"}>
              <Link to={`/customer/stores/${s.store_id}`}>
                <strong>{s.name}</strong>
              </Link>
              <span>{formatDistance(s.distance)}</span>
              <span className={s.open ? "tag open" : "tag"}>{s.open ? "영업 중" : "준비 중"}</span>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

export function StorePage() {
  const { storeId = "" } = useParams();
  const { client } = useSignedIn();
  const navigate = useNavigate();
  const [cart, setCart] = useState<Record<string, number>>({});
  const [error, setError] = useState<string | null>(null);
  const [key] = useState(newKey);
  const menu = useQuery({
    queryKey: ["menu", storeId],
    queryFn: async () => {
      const { data, error } = await client.GET("/stores/{store_id}/menu", {
        params: { path: { store_id: storeId } },
      });
      if (!data) throw new Error(problemText(error));
      return data;
    },
  });
  const stores = useQuery({
    queryKey: ["stores"],
    queryFn: async () => {
      const { data } = await client.GET("/stores", { params: { query: { limit: 200 } } });
      if (!data) throw new Error("stores");
      return data.items;
    },
  });
  const store = stores.data?.find((s) => s.store_id === storeId);
  const items = menu.data ?? [];
  const total = items.reduce((sum, i) => sum + (cart[i.item_id] ?? 0) * i.price, 0);
  const add = (id: string, delta: number) =>
    setCart((c) => ({ ...c, [id]: Math.max(0, (c[id] ?? 0) + delta) }));
  const place = async () => {
    setError(null);
    const lines = Object.entries(cart)
      .filter(([, q]) => q > 0)
      .map(([item_id, quantity]) => ({ item_id, quantity }));
    const { data, error } = await client.POST("/orders", {
      params: { header: { "Idempotency-Key": key } },
      body: { store_id: storeId, lines },
    });
    if (!data) setError(problemText(error));
    else navigate(`/customer/orders/${data.id}`);
  };
  return (
    <div className="phone">
      <h1>{store?.name ?? "메뉴"}</h1>
      {store && !store.open && <p className="tag">지금은 주문을 받지 않습니다</p>}
      {menu.isError && <ErrorText text={String(menu.error.message)} />}
      <ul className="list">
        {items.map((i) => (
          <li key={i.item_id} className={i.available ? "" : "closed"}>
            <span>
              <strong>{i.name}</strong> {formatWon(i.price)}
              {!i.available && <span className="tag">품절</span>}
            </span>
            <span className="stepper">
              <button
                type="button"
                className="secondary"
                aria-label={`${i.name} 빼기`}
                onClick={() => add(i.item_id, -1)}
                disabled={!cart[i.item_id]}
              >
                −
              </button>
              <output aria-label={`${i.name} 수량`}>{cart[i.item_id] ?? 0}</output>
              <button
                type="button"
                className="secondary"
                aria-label={`${i.name} 담기`}
                onClick={() => add(i.item_id, 1)}
                disabled={!i.available}
              >
                +
              </button>
            </span>
          </li>
        ))}
      </ul>
      <div className="cart card">
        <span>
          합계 <strong data-testid="cart-total">{formatWon(total)}</strong>
        </span>
        <button type="button" onClick={place} disabled={total === 0}>
          주문하기
        </button>
      </div>
      <ErrorText text={error} />
    </div>
  );
}

type Change = Schemas["StatusChange"];
const CANCELLABLE = ["awaiting_payment", "paid", "accepted"];
const TERMINAL = ["delivered", "cancelled", "rejected"];

function Payment({ orderId, onPaid }: { orderId: string; onPaid: () => void }) {
  const { client } = useSignedIn();
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The simulator's checkout: a key it approves, or one it declines (starts with "decline").
  const pay = async (declined: boolean) => {
    setBusy(true);
    setMessage(null);
    const payment_key = `${declined ? "decline" : "tgen"}_${Date.now()}`;
    const { data, error, response } = await client.POST("/orders/{order_id}/payment", {
      params: { path: { order_id: orderId } },
      body: { payment_key },
    });
    setBusy(false);
    if (data?.payment_status === "approved") {
      setMessage("결제가 승인되었습니다");
      onPaid();
    } else if (data?.payment_status === "declined") {
      setMessage(`결제가 거절되었습니다: ${data.message ?? "카드사 거절"}. 다시 결제해 주세요`);
    } else if (data?.payment_status === "refunded") {
      setMessage("주문이 이미 취소되어 결제가 환불됩니다");
    } else if (response.status === 503) {
      const seconds = error && "retry_after_secs" in error ? error.retry_after_secs : undefined;
      setMessage(`결제 대행사가 바쁩니다. ${seconds ?? "잠시"}초 후에 다시 결제해 주세요`);
    } else {
      setMessage(problemText(error));
    }
  };
  return (
    <section className="card" aria-labelledby="pay-title">
      <h2 id="pay-title">결제</h2>
      <p className="hint">모의 결제: 승인되는 키 또는 거절되는 키로 결제합니다.</p>
      <div className="row">
        <button type="button" onClick={() => pay(false)} disabled={busy}>
          결제하기
        </button>
        <button type="button" className="secondary" onClick={() => pay(true)} disabled={busy}>
          거절되는 카드로 결제
        </button>
      </div>
      {message && (
        <p role="status" data-testid="payment-message">
          {message}
        </p>
      )}
    </section>
  );
}

export function OrderPage() {
  const { orderId = "" } = useParams();
  const { client } = useSignedIn();
  const queries = useQueryClient();
  const [timeline, setTimeline] = useState<Change[]>([]);
  const [error, setError] = useState<string | null>(null);
  const order = useQuery({
    queryKey: ["order", orderId],
    // A just-placed order reaches its view a moment later.
    retry: 10,
    retryDelay: 200,
    // The stream carries status changes; a refund completes after the last one, so the
    // view is read again until it shows the money back.
    refetchInterval: (query) => {
      const o = query.state.data;
      return o && (o.refund_owed ?? 0) > 0 && !o.refunded ? 1000 : false;
    },
    queryFn: async () => {
      const { data, error } = await client.GET("/orders/{order_id}", {
        params: { path: { order_id: orderId } },
      });
      if (!data) throw new Error(problemText(error));
      return data;
    },
  });
  const refresh = useCallback(
    () => void queries.invalidateQueries({ queryKey: ["order", orderId] }),
    [queries, orderId],
  );
  const connection = useLiveStream<Change>({
    key: orderId,
    open: async (lastEventId, signal) => {
      const { data, response } = await client.GET("/orders/{order_id}/stream", {
        params: {
          path: { order_id: orderId },
          header: lastEventId ? { "Last-Event-ID": Number(lastEventId) } : {},
        },
        parseAs: "stream",
        signal,
      });
      return { body: data ?? undefined, status: response.status };
    },
    onMessage: (change) => {
      setTimeline((t) => (t.some((c) => c.sequence === change.sequence) ? t : [...t, change]));
      refresh();
    },
    finished: (change) => TERMINAL.includes(change.status),
  });
  const [rider, setRider] = useState<Schemas["RiderPosition"] | null>(null);
  const status = timeline.at(-1)?.status ?? order.data?.status ?? "";
  useLiveStream<Schemas["RiderPosition"]>({
    // Only while it is on its way; the server refuses before and the page stops after.
    key: status === "in_delivery" ? orderId : null,
    open: async (lastEventId, signal) => {
      const { data, response } = await client.GET("/orders/{order_id}/rider/stream", {
        params: {
          path: { order_id: orderId },
          header: lastEventId ? { "Last-Event-ID": lastEventId } : {},
        },
        parseAs: "stream",
        signal,
      });
      return { body: data ?? undefined, status: response.status };
    },
    onMessage: setRider,
  });
  const act = async (action: "cancel" | "confirm") => {
    setError(null);
    const { error } =
      action === "cancel"
        ? await client.POST("/orders/{order_id}/cancel", {
            params: { path: { order_id: orderId } },
          })
        : await client.POST("/orders/{order_id}/confirm-delivery", {
            params: { path: { order_id: orderId } },
          });
    if (error) setError(problemText(error));
    followUp(refresh);
  };
  const o = order.data;
  if (order.isError) return <ErrorText text={order.error.message} />;
  if (!o) return <p>불러오는 중…</p>;
  // The stream is the faster source; the view follows within milliseconds.
  return (
    <div className="phone">
      <h1>
        주문 <span className="mono">{o.order_id.slice(0, 8)}</span>
      </h1>
      <p className="status-line">
        <strong data-testid="order-status">{statusLabel(status)}</strong>{" "}
        <ConnectionBadge state={connection} />
      </p>
      <ul className="list">
        {o.lines.map((l) => (
          <li key={l.item_id}>
            <span>
              {l.name} × {l.quantity}
            </span>
            <span>{formatWon(l.line_total)}</span>
          </li>
        ))}
        <li>
          <strong>합계</strong>
          <strong data-testid="order-total">{formatWon(o.total)}</strong>
        </li>
      </ul>
      {status === "in_delivery" && rider && (
        <p className="card" data-testid="rider-distance" aria-live="polite">
          라이더가 <strong>{formatDistance(rider.distance_m)}</strong> 거리에 있어요 (
          {formatTime(rider.updated_at)})
        </p>
      )}
      {o.reason && <p>사유: {o.reason}</p>}
      {(o.refund_owed ?? 0) > 0 && (
        <p data-testid="refund">
          환불 {o.refunded ? "완료" : "진행 중"}: {formatWon(o.refunded ?? o.refund_owed ?? 0)}
        </p>
      )}
      {status === "awaiting_payment" && <Payment orderId={orderId} onPaid={refresh} />}
      <div className="row">
        {CANCELLABLE.includes(status) && (
          <button type="button" className="danger" onClick={() => act("cancel")}>
            주문 취소
          </button>
        )}
        {status === "in_delivery" && (
          <button type="button" onClick={() => act("confirm")}>
            배달 받았어요
          </button>
        )}
      </div>
      <ErrorText text={error} />
      <section aria-labelledby="timeline-title">
        <h2 id="timeline-title">진행 상황</h2>
        <ol className="timeline" data-testid="timeline">
          {timeline.map((c) => (
            <li key={c.sequence}>
              <strong>{statusLabel(c.status)}</strong>
              <time dateTime={c.occurred_at ?? undefined}>{formatTime(c.occurred_at)}</time>
            </li>
          ))}
        </ol>
      </section>
      <Link to="/customer">가게 목록으로</Link>
    </div>
  );
}

export function MyOrders() {
  const { client } = useSignedIn();
  const orders = useQuery({
    queryKey: ["my-orders"],
    queryFn: async () => {
      const { data, error } = await client.GET("/orders", { params: { query: { limit: 50 } } });
      if (!data) throw new Error(problemText(error));
      return data.items;
    },
  });
  return (
    <div className="phone">
      <h1>내 주문</h1>
      <ul className="list">
        {(orders.data ?? []).map((o) => (
          <li key={o.order_id}>
            <Link to={`/customer/orders/${o.order_id}`}>
              {formatTime(o.placed_at)} · {formatWon(o.total)}
            </Link>
            <span className="tag">{statusLabel(o.status)}</span>
          </li>
        ))}
      </ul>
      {orders.data?.length === 0 && <p>아직 주문이 없습니다.</p>}
      <Link to="/customer">가게 목록으로</Link>
    </div>
  );
}

// The store owner: register stores, open and close, edit the menu, and work the kitchen
// queue, which the server pushes as it changes (new paid orders appear highlighted).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import type { Schemas } from "eats-client";
import { useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { formatTime, formatWon, problemText, statusLabel } from "../format";
import { ConnectionBadge, useLiveStream } from "../live";
import { useSignedIn } from "../session";
import { CITY_HALL, ErrorText, PointInput, followUp, newKey, type Point } from "./common";

function useStores(waitFor?: string) {
  const { client, session } = useSignedIn();
  return useQuery({
    queryKey: ["my-stores", session.userId],
    // A store just registered reaches the directory a moment later.
    refetchInterval: (query) =>
      waitFor && !query.state.data?.some((s) => s.store_id === waitFor) ? 300 : false,
    queryFn: async () => {
      const { data, error } = await client.GET("/stores/mine");
      if (!data) throw new Error(problemText(error));
      return data;
    },
  });
}

export function OwnerHome() {
  const { client } = useSignedIn();
  const navigate = useNavigate();
  const stores = useStores();
  const [name, setName] = useState("");
  const [address, setAddress] = useState("");
  const [location, setLocation] = useState<Point>(CITY_HALL);
  const [error, setError] = useState<string | null>(null);
  const [key] = useState(newKey);
  const register = async (event: FormEvent) => {
    event.preventDefault();
    const { data, error } = await client.POST("/stores", {
      params: { header: { "Idempotency-Key": key } },
      body: { name, address, location },
    });
    if (!data) {
      setError(problemText(error));
      return;
    }
    navigate(`/owner/stores/${data.id}`);
  };
  return (
    <div className="wide">
      <h1>내 가게</h1>
      <ul className="list">
        {(stores.data ?? []).map((s) => (
          <li key={s.store_id}>
            <Link to={`/owner/stores/${s.store_id}`}>{s.name}</Link>
            <span className={s.open ? "tag open" : "tag"}>{s.open ? "영업 중" : "준비 중"}</span>
          </li>
        ))}
      </ul>
      <form onSubmit={register} className="card narrow">
        <h2>가게 등록</h2>
        <label>
          가게 이름
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </label>
        <label>
          주소
          <input value={address} onChange={(e) => setAddress(e.target.value)} required />
        </label>
        <PointInput value={location} onChange={setLocation} idPrefix="store" />
        <button type="submit">등록하기</button>
        <ErrorText text={error} />
      </form>
    </div>
  );
}

type Item = Schemas["MenuItem"];

function MenuRow({
  storeId,
  item,
  onChange,
}: {
  storeId: string;
  item: Item;
  onChange: () => void;
}) {
  const { client } = useSignedIn();
  const [price, setPrice] = useState(item.price);
  const [error, setError] = useState<string | null>(null);
  const save = async (available: boolean) => {
    const { error } = await client.PUT("/stores/{store_id}/menu/items/{item_id}", {
      params: { path: { store_id: storeId, item_id: item.item_id } },
      body: { name: item.name, price, available },
    });
    setError(error ? problemText(error) : null);
    followUp(onChange);
  };
  const remove = async () => {
    const { error } = await client.DELETE("/stores/{store_id}/menu/items/{item_id}", {
      params: { path: { store_id: storeId, item_id: item.item_id } },
    });
    setError(error ? problemText(error) : null);
    followUp(onChange);
  };
  return (
    <li>
      <strong>{item.name}</strong>
      <label className="inline">
        가격(원)
        <input
          type="number"
          min={0}
          step={100}
          value={price}
          onChange={(e) => setPrice(Number(e.target.value))}
        />
      </label>
      <button type="button" className="secondary" onClick={() => save(item.available)}>
        가격 저장
      </button>
      <label className="inline">
        <input
          type="checkbox"
          checked={!item.available}
          onChange={(e) => save(!e.target.checked)}
        />
        품절
      </label>
      <button type="button" className="danger" onClick={remove} aria-label={`${item.name} 삭제`}>
        삭제
      </button>
      <ErrorText text={error} />
    </li>
  );
}

function Menu({ storeId }: { storeId: string }) {
  const { client } = useSignedIn();
  const [name, setName] = useState("");
  const [price, setPrice] = useState(5000);
  const [error, setError] = useState<string | null>(null);
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
  const add = async (event: FormEvent) => {
    event.preventDefault();
    const { error } = await client.POST("/stores/{store_id}/menu/items", {
      params: { path: { store_id: storeId } },
      body: { name, price },
    });
    if (error) setError(problemText(error));
    else {
      setName("");
      setError(null);
    }
    followUp(menu.refetch);
  };
  return (
    <section className="card" aria-labelledby="menu-title">
      <h2 id="menu-title">메뉴</h2>
      <ul className="list menu">
        {(menu.data ?? []).map((i) => (
          <MenuRow
            key={`${i.item_id}-${i.price}-${i.available}`}
            storeId={storeId}
            item={i}
            onChange={() => void menu.refetch()}
          />
        ))}
      </ul>
      <form onSubmit={add} className="row">
        <label className="inline">
          메뉴 이름
          <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label className="inline">
          가격(원)
          <input
            type="number"
            min={0}
            step={100}
            value={price}
            onChange={(e) => setPrice(Number(e.target.value))}
            required
          />
        </label>
        <button type="submit">메뉴 추가</button>
      </form>
      <ErrorText text={error} />
    </section>
  );
}

type Queued = Schemas["QueuedOrder"];
type Step = "accept" | "start-cooking" | "finish-cooking";
const NEXT: Record<string, { step: Step; label: string } | undefined> = {
  paid: { step: "accept", label: "접수" },
  accepted: { step: "start-cooking", label: "조리 시작" },
  cooking: { step: "finish-cooking", label: "조리 완료" },
};

function QueueRow({ storeId, order, fresh }: { storeId: string; order: Queued; fresh: boolean }) {
  const { client } = useSignedIn();
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const next = NEXT[order.status];
  const params = { path: { store_id: storeId, order_id: order.order_id } };
  const step = async (s: Step) => {
    const { error } =
      s === "accept"
        ? await client.POST("/stores/{store_id}/orders/{order_id}/accept", { params })
        : s === "start-cooking"
          ? await client.POST("/stores/{store_id}/orders/{order_id}/start-cooking", { params })
          : await client.POST("/stores/{store_id}/orders/{order_id}/finish-cooking", { params });
    setError(error ? problemText(error) : null);
  };
  const reject = async (event: FormEvent) => {
    event.preventDefault();
    const { error } = await client.POST("/stores/{store_id}/orders/{order_id}/reject", {
      params,
      body: { reason },
    });
    setError(error ? problemText(error) : null);
  };
  const short = order.order_id.slice(0, 8);
  return (
    <li className={fresh ? "queued new" : "queued"} data-testid={`queued-${order.order_id}`}>
      <div>
        <strong className="mono">{short}</strong>{" "}
        <span className="tag">{statusLabel(order.status)}</span>{" "}
        <time dateTime={order.placed_at ?? undefined}>{formatTime(order.placed_at)}</time>
        <ul>
          {order.lines.map((l) => (
            <li key={l.item_id}>
              {l.name} × {l.quantity}
            </li>
          ))}
        </ul>
        <strong>{formatWon(order.total)}</strong>
      </div>
      <div className="row">
        {next && (
          <button
            type="button"
            onClick={() => step(next.step)}
            aria-label={`${short} ${next.label}`}
          >
            {next.label}
          </button>
        )}
        {order.status === "paid" && (
          <form onSubmit={reject} className="row">
            <label className="inline">
              거절 사유
              <input value={reason} onChange={(e) => setReason(e.target.value)} required />
            </label>
            <button type="submit" className="danger" aria-label={`${short} 거절`}>
              거절
            </button>
          </form>
        )}
        {order.status === "ready_for_pickup" && <span>라이더를 기다리는 중</span>}
      </div>
      <ErrorText text={error} />
    </li>
  );
}

function Queue({ storeId }: { storeId: string }) {
  const { client } = useSignedIn();
  const [orders, setOrders] = useState<Queued[] | null>(null);
  const [fresh, setFresh] = useState<string[]>([]);
  const known = useRef<Set<string> | null>(null);
  const connection = useLiveStream<Schemas["QueueSnapshot"]>({
    key: storeId,
    open: async (lastEventId, signal) => {
      const { data, response } = await client.GET("/stores/{store_id}/orders/stream", {
        params: {
          path: { store_id: storeId },
          header: lastEventId ? { "Last-Event-ID": lastEventId } : {},
        },
        parseAs: "stream",
        signal,
      });
      return { body: data ?? undefined, status: response.status };
    },
    onMessage: (snapshot) => {
      const ids = snapshot.items.map((o) => o.order_id);
      // The first snapshot is what was there; later ones highlight what is new.
      if (known.current) {
        const seen = known.current;
        const arrived = snapshot.items.filter((o) => !seen.has(o.order_id) && o.status === "paid");
        if (arrived.length) setFresh((f) => [...f, ...arrived.map((o) => o.order_id)]);
      }
      known.current = new Set(ids);
      setOrders(snapshot.items);
    },
  });
  return (
    <section className="card" aria-labelledby="queue-title">
      <h2 id="queue-title">
        주문 현황 <ConnectionBadge state={connection} />
      </h2>
      <p aria-live="polite" className="sr-only">
        {fresh.length ? `새 주문 ${fresh.length}건` : ""}
      </p>
      {orders?.length === 0 && <p>처리할 주문이 없습니다.</p>}
      <ul className="list queue">
        {(orders ?? []).map((o) => (
          <QueueRow
            key={o.order_id}
            storeId={storeId}
            order={o}
            fresh={fresh.includes(o.order_id)}
          />
        ))}
      </ul>
    </section>
  );
}

export function OwnerStore() {
  const { storeId = "" } = useParams();
  const { client } = useSignedIn();
  const queries = useQueryClient();
  const stores = useStores(storeId);
  const [error, setError] = useState<string | null>(null);
  const store = stores.data?.find((s) => s.store_id === storeId);
  const toggle = async () => {
    const params = { path: { store_id: storeId } };
    const { error } = store?.open
      ? await client.POST("/stores/{store_id}/close", { params })
      : await client.POST("/stores/{store_id}/open", { params });
    setError(error ? problemText(error) : null);
    followUp(() => queries.invalidateQueries({ queryKey: ["my-stores"] }));
  };
  return (
    <div className="wide">
      <h1>{store?.name ?? "가게"}</h1>
      <p>
        <span className={store?.open ? "tag open" : "tag"} data-testid="store-open">
          {store?.open ? "영업 중" : "준비 중"}
        </span>{" "}
        <button type="button" onClick={toggle} disabled={!store}>
          {store?.open ? "영업 종료" : "영업 시작"}
        </button>
      </p>
      <ErrorText text={error} />
      <div className="columns">
        <Queue storeId={storeId} />
        <Menu storeId={storeId} />
      </div>
      <Link to="/owner">내 가게 목록</Link>
    </div>
  );
}

// The operator: one order's timeline across its aggregates (the audit view), dead letters,
// consumer lag.
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { formatTime, problemText } from "../format";
import { useSignedIn } from "../session";
import { ErrorText } from "./common";

function Timeline() {
  const { client } = useSignedIn();
  const [orderId, setOrderId] = useState("");
  const [shown, setShown] = useState<string | null>(null);
  const timeline = useQuery({
    queryKey: ["timeline", shown],
    enabled: !!shown,
    queryFn: async () => {
      const { data, error } = await client.GET("/admin/orders/{order_id}/timeline", {
        params: { path: { order_id: shown ?? "" } },
      });
      if (!data) throw new Error(problemText(error));
      return data;
    },
  });
  const show = (event: FormEvent) => {
    event.preventDefault();
    setShown(orderId.trim());
  };
  return (
    <section className="card" aria-labelledby="audit-title">
      <h2 id="audit-title">주문 감사 기록</h2>
      <form onSubmit={show} className="row">
        <label className="inline">
          주문 ID
          <input value={orderId} onChange={(e) => setOrderId(e.target.value)} required />
        </label>
        <button type="submit">조회</button>
      </form>
      {timeline.isError && <ErrorText text={timeline.error.message} />}
      <table>
        <caption className="sr-only">주문의 모든 이벤트</caption>
        <thead>
          <tr>
            <th scope="col">순서</th>
            <th scope="col">이벤트</th>
            <th scope="col">애그리거트</th>
            <th scope="col">시각</th>
          </tr>
        </thead>
        <tbody>
          {(timeline.data ?? []).map((e, i) => {
            const meta = (e.metadata ?? {}) as Record<string, string | undefined>;
            return (
              <tr key={i}>
                <td>{e.sequence}</td>
                <td>{e.event_type}</td>
                <td>{meta["aggregate_type"] ?? ""}</td>
                <td>{formatTime(meta["occurred_at"])}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

export function Admin() {
  const { client } = useSignedIn();
  const dead = useQuery({
    queryKey: ["dead-letters"],
    queryFn: async () => {
      const { data, error } = await client.GET("/admin/dead-letters");
      if (!data) throw new Error(problemText(error));
      return data.items;
    },
  });
  const lag = useQuery({
    queryKey: ["lag"],
    refetchInterval: 5000,
    queryFn: async () => {
      const { data, error } = await client.GET("/admin/projections");
      if (!data) throw new Error(problemText(error));
      return data;
    },
  });
  return (
    <div className="wide">
      <h1>운영</h1>
      <Timeline />
      <section className="card" aria-labelledby="dead-title">
        <h2 id="dead-title">데드 레터</h2>
        {dead.data?.length === 0 && <p>보류된 메시지가 없습니다.</p>}
        <ul className="list">
          {(dead.data ?? []).map((d) => (
            <li key={d.id}>
              <span>
                {d.consumer} · {d.event_key}
              </span>
              <span>{d.error}</span>
              <time dateTime={d.failed_at}>{formatTime(d.failed_at)}</time>
            </li>
          ))}
        </ul>
      </section>
      <section className="card" aria-labelledby="lag-title">
        <h2 id="lag-title">소비자 지연</h2>
        <table>
          <caption className="sr-only">소비자별 처리되지 않은 이벤트</caption>
          <thead>
            <tr>
              <th scope="col">소비자</th>
              <th scope="col">이벤트</th>
              <th scope="col">초</th>
            </tr>
          </thead>
          <tbody>
            {(lag.data ?? []).map((l) => (
              <tr key={l.consumer}>
                <td>{l.consumer}</td>
                <td>{l.events}</td>
                <td>{l.seconds.toFixed(1)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

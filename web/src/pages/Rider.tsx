// The rider: where I am (the browser's geolocation, or a point typed in), the open jobs
// near me pushed live and sorted by distance, claim, pick up, the current job.
import type { Schemas } from "eats-client";
import { useEffect, useState } from "react";
import { formatDistance, problemText } from "../format";
import { ConnectionBadge, useLiveStream } from "../live";
import { useSignedIn } from "../session";
import { ErrorText, PointInput, type Point } from "./common";

interface Job {
  delivery_id: string;
  order_id: string;
  picked_up: boolean;
}

const jobKey = (user: string) => `eats.job.${user}`;
const RADIUS_M = 3000;

export function Rider() {
  const { client, session } = useSignedIn();
  const [draft, setDraft] = useState<Point | null>(null);
  const [at, setAt] = useState<Point | null>(null);
  const [jobs, setJobs] = useState<Schemas["OpenJob"][]>([]);
  const [error, setError] = useState<string | null>(null);
  const [job, setJob] = useState<Job | null>(() =>
    JSON.parse(localStorage.getItem(jobKey(session.userId)) ?? "null"),
  );

  // Start from where the browser says we are; the rider may correct it.
  useEffect(() => {
    navigator.geolocation?.getCurrentPosition(
      (p) => setDraft((d) => d ?? { lat: p.coords.latitude, lng: p.coords.longitude }),
      () => setDraft((d) => d ?? { lat: 37.5665, lng: 126.978 }),
    );
  }, []);

  // While delivering, report where we are as the browser's position changes, so the
  // customer sees the rider come closer.
  const delivering = job?.picked_up ?? false;
  useEffect(() => {
    if (!delivering || !navigator.geolocation) return;
    const watch = navigator.geolocation.watchPosition((p) => {
      const point = { lat: p.coords.latitude, lng: p.coords.longitude };
      void client.PUT("/riders/me/location", { body: point });
    });
    return () => navigator.geolocation.clearWatch(watch);
  }, [delivering, client]);

  const keep = (next: Job | null) => {
    setJob(next);
    if (next) localStorage.setItem(jobKey(session.userId), JSON.stringify(next));
    else localStorage.removeItem(jobKey(session.userId));
  };

  const report = async (point: Point) => {
    setError(null);
    const { error } = await client.PUT("/riders/me/location", { body: point });
    if (error) setError(problemText(error));
    else setAt(point);
  };

  const connection = useLiveStream<Schemas["JobsSnapshot"]>({
    key: at ? `${at.lat},${at.lng}` : null,
    open: async (lastEventId, signal) => {
      const { data, response } = await client.GET("/deliveries/available/stream", {
        params: {
          query: { lat: at?.lat ?? 0, lng: at?.lng ?? 0, radius_m: RADIUS_M },
          header: lastEventId ? { "Last-Event-ID": lastEventId } : {},
        },
        parseAs: "stream",
        signal,
      });
      return { body: data ?? undefined, status: response.status };
    },
    onMessage: (snapshot) => setJobs(snapshot.items),
  });

  const claim = async (j: Schemas["OpenJob"]) => {
    setError(null);
    if (at) await client.PUT("/riders/me/location", { body: at });
    const { error } = await client.POST("/deliveries/{delivery_id}/claim", {
      params: { path: { delivery_id: j.delivery_id } },
    });
    if (error) setError(problemText(error));
    else keep({ delivery_id: j.delivery_id, order_id: j.order_id, picked_up: false });
  };

  const pickUp = async () => {
    if (!job) return;
    const { error } = await client.POST("/deliveries/{delivery_id}/pickup", {
      params: { path: { delivery_id: job.delivery_id } },
    });
    if (error) setError(problemText(error));
    else keep({ ...job, picked_up: true });
  };

  return (
    <div className="phone">
      <h1>배달하기</h1>
      <section className="card" aria-labelledby="where-title">
        <h2 id="where-title">내 위치</h2>
        {draft ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void report(draft);
            }}
          >
            <PointInput value={draft} onChange={setDraft} idPrefix="rider" />
            <button type="submit">이 위치로 설정</button>
          </form>
        ) : (
          <p>위치를 확인하는 중…</p>
        )}
        {at && (
          <p data-testid="rider-at">
            설정된 위치: {at.lat.toFixed(4)}, {at.lng.toFixed(4)}
          </p>
        )}
      </section>
      <ErrorText text={error} />
      {job && (
        <section className="card current" aria-labelledby="job-title">
          <h2 id="job-title">현재 배달</h2>
          <p>
            주문 <span className="mono">{job.order_id.slice(0, 8)}</span> ·{" "}
            <span data-testid="job-state">{job.picked_up ? "배달 중" : "픽업하러 가는 중"}</span>
          </p>
          {job.picked_up ? (
            <>
              <p className="hint">고객이 수령을 확인하면 배달이 끝납니다.</p>
              <button type="button" className="secondary" onClick={() => keep(null)}>
                다음 배달 찾기
              </button>
            </>
          ) : (
            <button type="button" onClick={pickUp}>
              픽업 완료
            </button>
          )}
        </section>
      )}
      {at && (
        <section aria-labelledby="jobs-title">
          <h2 id="jobs-title">
            가까운 배달 <ConnectionBadge state={connection} />
          </h2>
          {jobs.length === 0 && <p>반경 {formatDistance(RADIUS_M)} 안에 배달이 없습니다.</p>}
          <ul className="list" data-testid="jobs">
            {jobs.map((j) => (
              <li key={j.delivery_id}>
                <span>
                  주문 <span className="mono">{j.order_id.slice(0, 8)}</span>
                </span>
                <strong>{formatDistance(j.distance_m)}</strong>
                <button
                  type="button"
                  onClick={() => claim(j)}
                  disabled={!!job && !job.picked_up}
                  aria-label={`${formatDistance(j.distance_m)} 거리 배달 잡기`}
                >
                  배달 잡기
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

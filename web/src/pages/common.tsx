import { useState } from "react";

export interface Point {
  lat: number;
  lng: number;
}

/** Seoul City Hall, where the demo stores are. */
export const CITY_HALL: Point = { lat: 37.5665, lng: 126.978 };

/** A point: from the browser's geolocation, or typed in. */
export function PointInput({
  value,
  onChange,
  idPrefix,
}: {
  value: Point;
  onChange: (point: Point) => void;
  idPrefix: string;
}) {
  const [error, setError] = useState<string | null>(null);
  const locate = () => {
    setError(null);
    if (!navigator.geolocation) {
      setError("이 브라우저는 위치를 알려 주지 않습니다");
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => onChange({ lat: p.coords.latitude, lng: p.coords.longitude }),
      () => setError("위치를 가져오지 못했습니다. 직접 입력하세요"),
    );
  };
  return (
    <div className="point">
      <label htmlFor={`${idPrefix}-lat`}>
        위도
        <input
          id={`${idPrefix}-lat`}
          type="number"
          step="any"
          min={-90}
          max={90}
          value={value.lat}
          onChange={(e) => onChange({ ...value, lat: Number(e.target.value) })}
          required
        />
      </label>
      <label htmlFor={`${idPrefix}-lng`}>
        경도
        <input
          id={`${idPrefix}-lng`}
          type="number"
          step="any"
          min={-180}
          max={180}
          value={value.lng}
          onChange={(e) => onChange({ ...value, lng: Number(e.target.value) })}
          required
        />
      </label>
      <button type="button" className="secondary" onClick={locate}>
        현재 위치 사용
      </button>
      {error && <p className="error">{error}</p>}
    </div>
  );
}

export function ErrorText({ text }: { text: string | null }) {
  return text ? (
    <p role="alert" className="error">
      {text}
    </p>
  ) : null;
}

/** A fresh Idempotency-Key for one user action: a retry of the same action reuses it. */
export const newKey = (): string => crypto.randomUUID();

/** Runs `refetch` a few times over the next second and a half: after a write, the read
 * models follow within milliseconds, so the first read may still show the old state. */
export function followUp(refetch: () => unknown): void {
  for (const ms of [100, 400, 1500]) setTimeout(() => void refetch(), ms);
}

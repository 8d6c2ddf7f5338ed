// What a TypeScript partner writes against the types openapi-typescript generates from
// openapi/itsm.json (`./itsm.d.ts`, written by scripts/sdk-check); `tsc --strict --noEmit` must
// accept it. The compiler, not a test run, is the check: list items are the types `get`
// answers, and SLA marks are a union narrowed by `mark`.
import type { components, paths } from "./itsm";

type Schemas = components["schemas"];
type IncidentOut = Schemas["IncidentOut"];
type IncidentPage = Schemas["IncidentPage"];
type SlaEvent = Schemas["SlaEvent"];
type Problem = Schemas["Problem"];
type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type ProblemJson<T> = T extends { content: { "application/problem+json": infer B } } ? B : never;

type ListIncidents = paths["/api/v1/incidents"]["get"];
type GetIncident = paths["/api/v1/incidents/{id}"]["get"];
type CreateIncident = paths["/api/v1/incidents"]["post"];
type GetSla = paths["/api/v1/incidents/{id}/sla"]["get"];
type Transition = paths["/api/v1/incidents/{id}/transitions"]["post"];

// A list answers a named page of the type `get` answers.
export function summaries(page: Json<ListIncidents["responses"][200]>): string[] {
  const typed: IncidentPage = page;
  return typed.items.map((i: Json<GetIncident["responses"][200]>) => `${i.number} P${i.priority} ${i.state}`);
}

export function nextCursor(page: IncidentPage): string | null {
  return page.next_cursor;
}

// The request body is a named schema too.
export const created: Json<CreateIncident["requestBody"] & {}> = {
  title: "Checkout API answers 502",
  impact: 2,
  urgency: 2,
};

// SLA marks: a union narrowed by `mark`; the switch is exhaustive.
export function describe(e: SlaEvent): string {
  switch (e.mark) {
    case "started":
    case "resumed":
    case "stopped":
    case "canceled":
    case "reset":
      return `${e.at} ${e.mark}`;
    case "paused":
      return `${e.at} paused: ${e.reason}`;
    case "threshold":
      return `${e.at} ${e.percent} % of the target`;
    default: {
      const unreachable: never = e;
      return unreachable;
    }
  }
}

export function timeline(sla: Json<GetSla["responses"][200]>): string[] {
  return sla.clocks.flatMap((c) => [`${c.name} (${c.kind}): ${c.status}`, ...c.marks.map(describe)]);
}

// Errors are problem+json with a stable `code` and every invalid field at once.
export function explain(p: Problem): string {
  const fields = (p.errors ?? []).map((e) => `${e.pointer}: ${e.code}`).join(", ");
  return `${p.status} ${p.code}${fields ? ` (${fields})` : ""}`;
}

export function allowedAfterConflict(p: ProblemJson<Transition["responses"][409]>): string[] {
  return p.extra?.allowed ?? [];
}

export function stillOpen(i: IncidentOut): boolean {
  return i.state !== "resolved" && i.state !== "closed" && i.state !== "canceled";
}

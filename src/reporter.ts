/**
 * Progress is a stream of typed events; only the CLI prints them. Core code takes a Reporter in
 * its options and never writes to stdout/stderr itself, so tests can record what happened.
 */
export type ReportLevel = 'step' | 'info' | 'ok' | 'warn' | 'progress';

export interface ReportEvent {
  level: ReportLevel;
  /** What area the event is about: 'render', 'package', 'deploy', 'release', … */
  topic: string;
  message: string;
  /** Structured detail for --json output and test assertions. */
  data?: Record<string, unknown>;
}

export interface Reporter {
  report(event: ReportEvent): void;
}

/** Collects events; for tests. */
export class RecordingReporter implements Reporter {
  readonly events: ReportEvent[] = [];
  report(event: ReportEvent): void {
    this.events.push(event);
  }
  messages(topic?: string): string[] {
    return this.events.filter((e) => topic === undefined || e.topic === topic).map((e) => e.message);
  }
}

export const silentReporter: Reporter = { report: () => undefined };

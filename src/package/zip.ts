/**
 * Deterministic zips: entries sorted by name, every timestamp 1980-01-01 00:00 UTC, every mode
 * 0644, no directory entries. The same files give the same bytes on any machine, in any TZ.
 */
import archiver from 'archiver';

export interface ZipEntry {
  name: string;
  data: Uint8Array | string;
}

const EPOCH = new Date(Date.UTC(1980, 0, 1, 0, 0, 0));

export function deterministicZip(entries: ZipEntry[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const archive = archiver('zip', { zlib: { level: 9 } });
    const chunks: Buffer[] = [];
    archive.on('data', (c: Buffer) => chunks.push(c));
    archive.on('warning', reject);
    archive.on('error', reject);
    archive.on('end', () => resolve(Buffer.concat(chunks)));
    for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      archive.append(Buffer.from(e.data), { name: e.name, date: EPOCH, mode: 0o644 });
    }
    void archive.finalize();
  });
}

import { useState } from 'preact/hooks';
import { saveBlob, sha256Hex } from '../download.ts';
import { formatBytes } from '../format.ts';
import { useSession } from '../session-context.ts';
import type { JobArtifact, JobInput } from '../types.ts';

type Download = { readonly state: 'busy' } | { readonly state: 'done'; readonly checked: boolean } | { readonly state: 'failed'; readonly message: string };

/**
 * Fetches a file with the token in a header, checks its bytes against the sha256 the job's log
 * recorded (where WebCrypto is available), and saves it; a file whose bytes differ is not saved.
 */
function DownloadButton(props: { readonly fileId: string; readonly path: string; readonly sha256: string }) {
  const { api } = useSession();
  const [download, setDownload] = useState<Download | undefined>(undefined);
  const run = async () => {
    setDownload({ state: 'busy' });
    try {
      const blob = await api.download(`/v1/files/${encodeURIComponent(props.fileId)}`);
      const actual = await sha256Hex(blob);
      if (actual !== undefined && actual !== props.sha256) {
        setDownload({ state: 'failed', message: `bytes hash to ${actual}, not the recorded ${props.sha256}: not saved` });
        return;
      }
      saveBlob(blob, props.path);
      setDownload({ state: 'done', checked: actual !== undefined });
    } catch (error) {
      setDownload({ state: 'failed', message: error instanceof Error ? error.message : String(error) });
    }
  };
  return (
    <>
      <button type="button" data-testid="download" disabled={download?.state === 'busy'} onClick={run}>
        Download
      </button>{' '}
      {download?.state === 'done' && <span class="muted">{download.checked ? 'saved, sha256 checked' : 'saved'}</span>}
      {download?.state === 'failed' && (
        <span class="error" role="alert">
          {download.message}
        </span>
      )}
    </>
  );
}

const Hash = (props: { readonly sha256: string }) => (
  <span class="mono hash" title={props.sha256}>
    {props.sha256}
  </span>
);

/** A job's uploaded inputs and the artifacts its attempts kept, with sizes, hashes and downloads. */
export function JobFiles(props: { readonly inputs: readonly JobInput[]; readonly artifacts: readonly JobArtifact[] }) {
  const { can } = useSession();
  const canDownload = can('files:read');
  if (props.inputs.length === 0 && props.artifacts.length === 0) return null;
  return (
    <section class="files" data-testid="files">
      {props.inputs.length > 0 && (
        <>
          <h2>Inputs</h2>
          <table data-testid="inputs">
            <thead>
              <tr>
                <th>path</th>
                <th>size</th>
                <th>sha256</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {props.inputs.map((input) => (
                <tr key={input.path} data-file-id={input.file}>
                  <td class="mono">{input.path}</td>
                  <td>{formatBytes(input.size)}</td>
                  <td>
                    <Hash sha256={input.sha256} />
                  </td>
                  <td>{canDownload && <DownloadButton fileId={input.file} path={input.path} sha256={input.sha256} />}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {props.artifacts.length > 0 && (
        <>
          <h2>Artifacts</h2>
          <table data-testid="artifacts">
            <thead>
              <tr>
                <th>attempt</th>
                <th>path</th>
                <th>size</th>
                <th>type</th>
                <th>sha256</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {props.artifacts.map((artifact) => (
                <tr key={artifact.fileId} data-file-id={artifact.fileId}>
                  <td>{artifact.attempt}</td>
                  <td class="mono" data-testid="artifact-path">
                    {artifact.path}
                  </td>
                  <td>{formatBytes(artifact.size)}</td>
                  <td class="muted">{artifact.contentType}</td>
                  <td>
                    <Hash sha256={artifact.sha256} />
                  </td>
                  <td>
                    {canDownload && (
                      <DownloadButton fileId={artifact.fileId} path={artifact.path} sha256={artifact.sha256} />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {!canDownload && <p class="muted">Downloads need the files:read scope.</p>}
    </section>
  );
}

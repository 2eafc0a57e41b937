// Talking to the Ospost server: requests carry the CSRF token and ask for JSON,
// uploads report their progress, and every failure becomes a RequestError whose
// message can be shown to the person as it is.

const NETWORK_ERROR = 'Ospost could not be reached. Check your connection and try again.';

export class RequestError extends Error {
  constructor(message, status, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : '';
}

function errorForStatus(status) {
  if (status === 401) return 'Your session ended. Log in again.';
  if (status === 413) return 'That file is too large to upload.';
  return `Something went wrong (HTTP ${status}). Try again.`;
}

// fetch() that sends the CSRF token, asks for JSON and rejects with a RequestError
// (carrying the server's error text) unless the response is ok.
export async function fetchJson(url, { method = 'GET', json, body } = {}) {
  const headers = { Accept: 'application/json', 'X-CSRFToken': csrfToken() };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: 'same-origin' });
  } catch {
    throw new RequestError(NETWORK_ERROR, 0, null);
  }
  let data;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok || !data || data.ok === false) {
    const message = (data && data.error) || errorForStatus(response.status);
    throw new RequestError(message, response.status, data);
  }
  return data;
}

// POST a FormData with XMLHttpRequest so upload progress can be shown; an
// AbortSignal (`signal`) cancels it (rejected with status 0 and `cancelled`).
export function uploadForm(url, formData, onProgress, signal = null) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    if (signal) {
      signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    xhr.addEventListener('abort', () => {
      const error = new RequestError('Upload cancelled. Nothing was saved.', 0, null);
      error.cancelled = true;
      reject(error);
    });
    xhr.open('POST', url);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRFToken', csrfToken());
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      let data;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && data && data.ok !== false) {
        resolve(data);
      } else {
        const message = (data && data.error) || errorForStatus(xhr.status);
        reject(new RequestError(message, xhr.status, data));
      }
    });
    xhr.addEventListener('error', () => reject(new RequestError(NETWORK_ERROR, 0, null)));
    xhr.send(formData);
  });
}

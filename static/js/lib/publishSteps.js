// The post page's list of publishing steps ("Image 2: Instagram is processing
// it", "First comment: posted"), kept current from the status the page polls
// (ospost/progress.py makes both the list and the status's `steps`).

const STATE_WORDS = { done: 'done', active: 'in progress', waiting: 'waiting', failed: 'failed' };

// Show `steps` ([{label, state, detail}]) in the page's [data-publish-steps].
export function renderPublishSteps(page, steps) {
  const box = page.querySelector('[data-publish-steps]');
  if (!box || !Array.isArray(steps)) return;
  const list = box.querySelector('[data-publish-steps-list]');
  list.replaceChildren(
    ...steps.map((step) => {
      const item = document.createElement('li');
      item.className = `publish-step step-${step.state}`;
      const mark = document.createElement('span');
      mark.className = 'step-mark';
      mark.setAttribute('aria-hidden', 'true');
      const label = document.createElement('span');
      label.className = 'step-label';
      label.textContent = step.detail ? `${step.label}:` : step.label;
      item.append(mark, label);
      if (step.detail) {
        const detail = document.createElement('span');
        detail.className = 'step-detail';
        detail.textContent = step.detail;
        item.append(detail);
      }
      const state = document.createElement('span');
      state.className = 'visually-hidden';
      state.textContent = ` (${STATE_WORDS[step.state] || step.state})`;
      item.append(state);
      return item;
    }),
  );
  box.hidden = false;
}

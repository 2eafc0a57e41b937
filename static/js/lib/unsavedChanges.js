// "You have unsaved changes": the browser asks before leaving a form the person
// changed, and never once it was sent successfully.

// What the form holds, as text (files are judged by `extraDirty`).
function snapshot(form) {
  const pairs = [...new FormData(form)].filter(
    ([key, value]) => typeof value === 'string' && key !== 'csrf_token',
  );
  return new URLSearchParams(pairs).toString();
}

// Guard `form`; `extraDirty()` adds what FormData cannot see (a chosen image).
// Returns { release() } to call right before leaving after a successful save.
export function guardUnsavedChanges(form, { extraDirty = () => false } = {}) {
  const initial = snapshot(form);
  let released = false;
  const isDirty = () => extraDirty() || snapshot(form) !== initial;
  window.addEventListener('beforeunload', (event) => {
    if (released || !isDirty()) return;
    event.preventDefault();
    // Older browsers show the prompt only when returnValue is set.
    event.returnValue = '';
  });
  return {
    isDirty,
    release() {
      released = true;
    },
  };
}

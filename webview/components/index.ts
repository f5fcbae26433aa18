/**
 * The few controls the inspector uses. The page was meant to use @vscode/webview-ui-toolkit, but
 * the toolkit is deprecated upstream (archived, no more releases), so these are plain elements
 * styled with VS Code's theme variables (style.css). Views create controls only through this
 * module, so a replacement component library would change this file alone.
 */

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A button; `secondary` uses the theme's secondary button colours. */
export function button(label: string, onClick: () => void, opts: { secondary?: boolean; title?: string } = {}): HTMLButtonElement {
  const b = el('button', opts.secondary ? 'b-button secondary' : 'b-button', label);
  b.type = 'button';
  if (opts.title) b.title = opts.title;
  b.addEventListener('click', onClick);
  return b;
}

/** A text field reporting every edit. */
export function textField(placeholder: string, onInput: (value: string) => void): HTMLInputElement {
  const i = el('input', 'b-input');
  i.type = 'text';
  i.placeholder = placeholder;
  i.spellcheck = false;
  i.setAttribute('aria-label', placeholder);
  i.addEventListener('input', () => onInput(i.value));
  return i;
}

/** A checkbox with its label; `className` lets themes colour it (e.g. by change kind). */
export function checkbox(label: string, checked: boolean, onChange: (checked: boolean) => void, className = ''): HTMLLabelElement {
  const l = el('label', `b-checkbox ${className}`.trim());
  const c = el('input');
  c.type = 'checkbox';
  c.checked = checked;
  c.addEventListener('change', () => onChange(c.checked));
  l.append(c, document.createTextNode(label));
  return l;
}

/** A two-state toggle button (aria-pressed). */
export function toggle(label: string, pressed: boolean, onChange: (pressed: boolean) => void, title?: string): HTMLButtonElement {
  const b = button(
    label,
    () => {
      const now = b.getAttribute('aria-pressed') !== 'true';
      b.setAttribute('aria-pressed', String(now));
      onChange(now);
    },
    { secondary: true, title },
  );
  b.classList.add('b-toggle');
  b.setAttribute('aria-pressed', String(pressed));
  return b;
}

/** A drop-down of fixed options. */
export function dropdown<T extends string>(
  options: { value: T; label: string }[],
  value: T,
  onChange: (v: T) => void,
  label: string,
): HTMLSelectElement {
  const s = el('select', 'b-select');
  s.setAttribute('aria-label', label);
  for (const o of options) {
    const opt = el('option', undefined, o.label);
    opt.value = o.value;
    s.append(opt);
  }
  s.value = value;
  s.addEventListener('change', () => onChange(s.value as T));
  return s;
}

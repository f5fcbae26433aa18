/**
 * The controls the inspector uses, made from @vscode/webview-ui-toolkit's components (the library
 * the design card names: VS Code's own look, theme-aware, keyboard and screen-reader ready). The
 * toolkit is archived upstream; its successor is @vscode-elements/elements. Views create controls
 * only through this module and see only what it returns (an element with a class to style, a
 * value, an event), so moving to the successor changes this folder alone.
 *
 * Each control's host element carries a `b-*` class (b-button, b-input, b-checkbox, b-toggle,
 * b-select) for the page's stylesheet and for tests; the toolkit's inner parts sit in open shadow
 * roots and are styled by the toolkit's design tokens, which follow the VS Code theme's variables.
 */
import {
  type Button,
  type Checkbox,
  type Dropdown,
  provideVSCodeDesignSystem,
  type TextField,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDropdown,
  vsCodeOption,
  vsCodeTextField,
} from '@vscode/webview-ui-toolkit';

// Defines the custom elements once, when the first view imports this module.
provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeCheckbox(), vsCodeDropdown(), vsCodeOption(), vsCodeTextField());

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A toolkit element by its tag, with a class and text content. */
function toolkit<T extends HTMLElement>(tag: string, className: string, text?: string): T {
  const e = document.createElement(tag) as T;
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A button; `secondary` uses the theme's secondary button colours. */
export function button(label: string, onClick: () => void, opts: { secondary?: boolean; title?: string } = {}): HTMLElement {
  const b = toolkit<Button>('vscode-button', 'b-button', label);
  b.appearance = opts.secondary ? 'secondary' : 'primary';
  if (opts.title) b.title = opts.title;
  b.addEventListener('click', onClick);
  return b;
}

/** A text field reporting every edit; the placeholder is also its accessible name. */
export function textField(placeholder: string, onInput: (value: string) => void): HTMLElement {
  const t = toolkit<TextField>('vscode-text-field', 'b-input');
  t.placeholder = placeholder;
  t.setAttribute('aria-label', placeholder);
  t.setAttribute('spellcheck', 'false');
  // The inner <input>'s event is composed: it reaches the host after the toolkit copied the value.
  t.addEventListener('input', () => onInput(t.value));
  return t;
}

/** A checkbox with its label; `className` lets the page colour it (e.g. by change kind). */
export function checkbox(label: string, checked: boolean, onChange: (checked: boolean) => void, className = ''): HTMLElement {
  const c = toolkit<Checkbox>('vscode-checkbox', `b-checkbox ${className}`.trim(), label);
  c.checked = checked;
  // The toolkit also announces a change made by code; only a change of state is reported.
  let last = checked;
  c.addEventListener('change', () => {
    if (c.checked === last) return;
    last = c.checked;
    onChange(c.checked);
  });
  return c;
}

/**
 * A two-state toggle button: aria-pressed says its state, and it shows pressed with the primary
 * colours, released with the secondary ones. `setPressed` changes it without reporting.
 */
export function toggle(
  label: string,
  pressed: boolean,
  onChange: (pressed: boolean) => void,
  title?: string,
): HTMLElement & { setPressed(pressed: boolean): void } {
  const b = toolkit<Button>('vscode-button', 'b-button b-toggle', label) as Button & { setPressed(pressed: boolean): void };
  if (title) b.title = title;
  b.setPressed = (on) => {
    b.setAttribute('aria-pressed', String(on));
    b.appearance = on ? 'primary' : 'secondary';
  };
  b.setPressed(pressed);
  b.addEventListener('click', () => {
    const now = b.getAttribute('aria-pressed') !== 'true';
    b.setPressed(now);
    onChange(now);
  });
  return b;
}

/** A drop-down of fixed options. */
export function dropdown<T extends string>(
  options: { value: T; label: string }[],
  value: T,
  onChange: (v: T) => void,
  label: string,
): HTMLElement {
  const d = toolkit<Dropdown>('vscode-dropdown', 'b-select');
  d.setAttribute('aria-label', label);
  for (const o of options) {
    const opt = toolkit<HTMLElement>('vscode-option', '', o.label);
    opt.setAttribute('value', o.value);
    if (o.value === value) opt.setAttribute('selected', '');
    d.append(opt);
  }
  d.addEventListener('change', () => onChange(d.value as T));
  return d;
}

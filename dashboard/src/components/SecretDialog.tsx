// Shows a new secret (an API key, a webhook's signing secret) the one time tollgate returns it,
// with a copy button and a warning. The page keeps it in memory only while the dialog is open.

import { useRef, useState } from 'preact/hooks';

import { Dialog } from './Dialog';

interface Props {
  title: string;
  /** The field's label, e.g. "API key". */
  label: string;
  /** What it is in a sentence: "key", "signing secret". */
  noun: string;
  secret: string;
  onClose: () => void;
  children?: preact.ComponentChildren;
}

export function SecretDialog({ title, label, noun, secret, onClose, children }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string>('');

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('Copied to the clipboard.');
    } catch {
      // No clipboard API (a page served over plain HTTP from another host): select it for Ctrl+C.
      input.current?.select();
      setCopied('Selected: press Ctrl+C (⌘C) to copy.');
    }
  };

  return (
    <Dialog
      title={title}
      onClose={onClose}
      locked
      describedBy="secret-warning"
      footer={
        <button type="button" class="primary" onClick={onClose}>
          I have stored it — close
        </button>
      }
    >
      <div class="notice warn" id="secret-warning">
        <strong>This is the only time tollgate shows this {noun}.</strong> Copy it now and store it
        somewhere safe: tollgate keeps only a hash of it and cannot show it again.
      </div>
      <div class="field">
        <label for="new-secret">{label}</label>
        <div class="secret-box">
          <input id="new-secret" ref={input} readOnly value={secret} spellcheck={false} autoComplete="off" onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={copy}>
            Copy
          </button>
        </div>
        <span class="help" role="status">
          {copied}
        </span>
      </div>
      {children}
    </Dialog>
  );
}

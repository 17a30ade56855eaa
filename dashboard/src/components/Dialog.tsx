// A modal dialog on the native <dialog> element: the browser keeps focus inside it, Escape closes
// it, and the page behind is inert. Open while mounted; onClose runs however it is closed.
// FormDialog is the usual kind: one form, Cancel and a submit button, the API's error below.

import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';

import { ErrorNotice, useAction } from './ui';

interface Props {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  footer?: ComponentChildren;
  wide?: boolean;
  /** Escape and the close button do nothing (e.g. until a one-time secret is acknowledged). */
  locked?: boolean;
  /** What the dialog is called for assistive technology when it differs from the title. */
  describedBy?: string;
}

export function Dialog({ title, onClose, children, footer, wide, locked, describedBy }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current!;
    const opener = document.activeElement as HTMLElement | null;
    dialog.showModal();
    const onCancel = (event: Event) => {
      event.preventDefault();
      if (!locked) closeRef.current();
    };
    dialog.addEventListener('cancel', onCancel);
    return () => {
      dialog.removeEventListener('cancel', onCancel);
      dialog.close();
      opener?.focus?.(); // back to the control that opened it
    };
  }, [locked]);

  return (
    <dialog ref={ref} class={wide ? 'wide' : undefined} aria-labelledby={titleId} aria-describedby={describedBy}>
      <div class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        {!locked && (
          <button type="button" class="small" onClick={() => closeRef.current()} aria-label="Close dialog">
            ✕
          </button>
        )}
      </div>
      <div class="dialog-body">{children}</div>
      {footer && <div class="dialog-foot">{footer}</div>}
    </dialog>
  );
}

interface FormDialogProps {
  title: string;
  submit: string;
  onClose: () => void;
  /** Runs the change; the dialog closes when it resolves and shows the API's error when it throws. */
  onSubmit: () => Promise<void>;
  /** The error to show (and keep the dialog open for), e.g. from a form field check. */
  children: (error: unknown) => ComponentChildren;
  wide?: boolean;
  danger?: boolean;
  /** Keep the dialog open after a successful submit (it shows a result instead). */
  stayOpen?: boolean;
}

/** A dialog around one form: Cancel, a submit button, and the API's error under the fields. */
export function FormDialog({ title, submit, onClose, onSubmit, children, wide, danger, stayOpen }: FormDialogProps) {
  const formId = useId();
  const action = useAction();
  const send = (event: Event) => {
    event.preventDefault();
    action.run(async () => {
      await onSubmit();
      if (!stayOpen) onClose();
    });
  };
  return (
    <Dialog
      title={title}
      onClose={onClose}
      wide={wide}
      footer={
        <>
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" form={formId} class={danger ? 'danger solid' : 'primary'} disabled={action.busy}>
            {submit}
          </button>
        </>
      }
    >
      <form id={formId} class="form-grid" onSubmit={send} noValidate>
        {children(action.error)}
        <div class="wide">
          <ErrorNotice error={action.error} what={title} />
        </div>
      </form>
    </Dialog>
  );
}


// Billing: a customer's live draft invoice for the open period, the closed invoices with their
// printable HTML page (fetched with the root key, shown in a sandboxed frame), closing a period
// and voiding an invoice.

import { useEffect, useState } from 'preact/hooks';

import { ApiError, getText, rpc, rpcAll } from '../lib/api';
import { useAllows } from '../lib/access-context';
import { fmtMoney, fmtNumber, fmtTime } from '../lib/format';
import { useAsync } from '../lib/hooks';
import type { Identity } from '../lib/identities';
import { href, navigate } from '../lib/route';
import { Dialog, FormDialog } from '../components/Dialog';
import { ActionsCell, Badge, Card, ErrorNotice, fieldError, Listing, Loading, PageHead, RowButton, SelectField, Table, TextField, useAction } from '../components/ui';

interface InvoiceLine {
  kind: string;
  description: string;
  tier: string;
  meter: string;
  quantity: number;
  amount: number;
}

interface Invoice {
  invoiceId: string;
  number: string;
  externalId: string;
  period: string;
  periodStart: number;
  periodEnd: number;
  currency: string;
  status: string;
  lines: InvoiceLine[];
  total: number;
  voidReason?: string;
}

export function Billing({ params }: { params: URLSearchParams }) {
  const customer = params.get('customer') ?? '';
  return (
    <>
      <PageHead title="Billing" subtitle="What each customer will be billed for the open period, and the invoices of closed ones." />
      <DraftInvoice customer={customer} />
      <Invoices />
    </>
  );
}

function DraftInvoice({ customer }: { customer: string }) {
  const [input, setInput] = useState(customer);
  useEffect(() => setInput(customer), [customer]);
  const identities = useAsync(() => rpcAll<Identity>('identities.listIdentities', {}, 500).catch(() => []), []);
  const draft = useAsync(
    () => (customer ? rpc<Invoice>('billing.previewInvoice', { externalId: customer }) : Promise.resolve(null)),
    [customer],
    15_000,
  );
  return (
    <Card title="Draft invoice" note="live, from the usage so far; final when the period closes">
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(href('billing', undefined, { customer: input.trim() }));
        }}
      >
        <TextField class="grow" label="Customer (externalId)" value={input} onValue={setInput} list="billing-customers" placeholder="acme" />
        <datalist id="billing-customers">
          {(identities.data ?? []).map((identity) => (
            <option key={identity.id} value={identity.externalId} />
          ))}
        </datalist>
        <button type="submit" class="primary">Show draft</button>
      </form>
      <ErrorNotice error={draft.error} what="The draft invoice" />
      {customer && draft.data && <InvoiceTable invoice={draft.data} />}
      {customer && !draft.data && !draft.error && <Loading />}
      {!customer && <p class="empty">Choose a customer to see what the open period will bill them.</p>}
    </Card>
  );
}

function InvoiceTable({ invoice }: { invoice: Invoice }) {
  return (
    <>
      <p class="small muted">
        {invoice.number || 'Draft'} · {invoice.externalId} · period {invoice.period} ({fmtTime(invoice.periodStart)} to {fmtTime(invoice.periodEnd)})
      </p>
      <Table
        columns={['Line', 'Tier', { label: 'Quantity', num: true }, { label: 'Amount', num: true }]}
        foot={
          <tr>
            <th scope="row" colSpan={3}>Total</th>
            <td class="num"><strong>{fmtMoney(invoice.total, invoice.currency)}</strong></td>
          </tr>
        }
      >
        {invoice.lines.map((line, i) => (
          <tr key={i}>
            <td>{line.description}</td>
            <td>{line.tier || '—'}</td>
            <td class="num">{line.kind === 'base_fee' ? '—' : fmtNumber(line.quantity)}</td>
            <td class="num">{fmtMoney(line.amount, invoice.currency)}</td>
          </tr>
        ))}
        {invoice.lines.length === 0 && (
          <tr>
            <td colSpan={4} class="muted">No charges in this period.</td>
          </tr>
        )}
      </Table>
    </>
  );
}

function previousMonth(): string {
  const d = new Date();
  const month = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1));
  return `${month.getUTCFullYear()}-${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

function Invoices() {
  const [period, setPeriod] = useState('');
  const [customer, setCustomer] = useState('');
  const [status, setStatus] = useState('');
  const [viewing, setViewing] = useState<Invoice | null>(null);
  const [closing, setClosing] = useState(false);
  const canWrite = useAllows('billing.*.write');
  const filter = { ...(period ? { period } : {}), ...(customer.trim() ? { externalId: customer.trim() } : {}), ...(status ? { status } : {}) };
  const invoices = useAsync(() => rpc<Invoice[]>('billing.listInvoices', filter), [period, customer, status]);

  return (
    <Card
      title="Invoices"
      actions={
        <button type="button" disabled={!canWrite} onClick={() => setClosing(true)}>
          Close a period…
        </button>
      }
    >
      <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
        <TextField label="Period (empty: all)" type="month" value={period} onValue={setPeriod} />
        <TextField label="Customer" value={customer} onValue={setCustomer} placeholder="any" />
        <SelectField
          label="Status"
          value={status}
          onValue={setStatus}
          options={[
            { value: '', label: 'Any' },
            { value: 'finalized', label: 'Finalized' },
            { value: 'void', label: 'Void' },
          ]}
        />
      </form>
      <Listing
        items={invoices.data}
        error={invoices.error}
        what="Listing invoices"
        empty={`No invoices${period || customer || status ? ' match' : ' yet: they are made when a period is closed'}.`}
      >
        {(items) => (
          <Table columns={['Number', 'Customer', 'Period', 'Status', { label: 'Total', num: true }, { label: 'Actions', hidden: true }]}>
            {items.map((invoice) => (
              <tr key={invoice.invoiceId}>
                <td class="mono">{invoice.number}</td>
                <td>{invoice.externalId}</td>
                <td>{invoice.period}</td>
                <td>
                  <Badge tone={invoice.status === 'void' ? 'bad' : 'ok'}>{invoice.status}</Badge>
                </td>
                <td class="num">{fmtMoney(invoice.total, invoice.currency)}</td>
                <ActionsCell>
                  <RowButton label={`View invoice ${invoice.number}`} onClick={() => setViewing(invoice)}>
                    View
                  </RowButton>
                </ActionsCell>
              </tr>
            ))}
          </Table>
        )}
      </Listing>
      {viewing && <InvoiceDialog invoice={viewing} canWrite={canWrite} onClose={() => setViewing(null)} onVoided={() => invoices.reload()} />}
      {closing && <ClosePeriodDialog onClose={() => setClosing(false)} onClosed={() => invoices.reload()} />}
    </Card>
  );
}

/** The invoice's own printable page: GET /billing/invoices/<id>.html with the root key. */
function InvoiceDialog({ invoice, canWrite, onClose, onVoided }: { invoice: Invoice; canWrite: boolean; onClose: () => void; onVoided: () => void }) {
  const page = useAsync(async () => {
    const { status, text } = await getText(`/billing/invoices/${encodeURIComponent(invoice.invoiceId)}.html`, true);
    if (status !== 200) {
      const error = (JSON.parse(text) as { error?: { title?: string; detail?: string } }).error;
      throw new ApiError(status, error?.title ?? `HTTP ${status}`, error?.detail ?? '');
    }
    return URL.createObjectURL(new Blob([text], { type: 'text/html' }));
  }, [invoice.invoiceId]);
  useEffect(() => () => void (page.data && URL.revokeObjectURL(page.data)), [page.data]);
  const [reason, setReason] = useState('');
  const voiding = useAction();

  const voidIt = (event: Event) => {
    event.preventDefault();
    voiding.run(async () => {
      await rpc('billing.voidInvoice', { invoiceId: invoice.invoiceId, reason: reason.trim() });
      onVoided();
      onClose();
    });
  };

  return (
    <Dialog
      title={`Invoice ${invoice.number}`}
      onClose={onClose}
      wide
      footer={
        <>
          {page.data && (
            <a class="button" href={page.data} download={`${invoice.number || invoice.invoiceId}.html`}>
              Download HTML
            </a>
          )}
          <button type="button" onClick={onClose}>Close</button>
        </>
      }
    >
      <ErrorNotice error={page.error} what="The invoice page" />
      {page.data ? (
        <iframe class="invoice-frame" src={page.data} sandbox="" title={`Invoice ${invoice.number} as printed`} />
      ) : (
        !page.error && <Loading />
      )}
      {invoice.status !== 'void' && canWrite && (
        <form class="toolbar spaced" onSubmit={voidIt} noValidate>
          <TextField class="grow" label="Reason to void it (the next closing of its period issues it anew)" value={reason} onValue={setReason} error={fieldError(voiding.error, 'body.reason')} />
          <button type="submit" class="danger" disabled={voiding.busy}>Void invoice</button>
        </form>
      )}
      <ErrorNotice error={voiding.error} what="Voiding" />
    </Dialog>
  );
}

function ClosePeriodDialog({ onClose, onClosed }: { onClose: () => void; onClosed: () => void }) {
  const [period, setPeriod] = useState(previousMonth());
  const [result, setResult] = useState<{ created: number; pending: number } | null>(null);
  const close = async () => {
    setResult(await rpc<{ created: number; pending: number }>('billing.closePeriod', { period }));
    onClosed();
  };
  return (
    <FormDialog title="Close a billing period" submit="Close period" onClose={onClose} onSubmit={close} stayOpen>
      {(error) => (
        <>
          <p class="wide">Finalizes one invoice per customer with usage or a base fee, numbered in order. Closing a period again returns the same invoices.</p>
          <TextField label="Period" type="month" value={period} onValue={setPeriod} help="A calendar month that has ended" error={fieldError(error, 'body.period')} />
          {result && (
            <p class="notice ok wide" role="status">
              {fmtNumber(result.created)} invoice{result.created === 1 ? '' : 's'} finalized
              {result.pending ? `; ${fmtNumber(result.pending)} anniversary period${result.pending === 1 ? '' : 's'} still running` : ''}.
            </p>
          )}
        </>
      )}
    </FormDialog>
  );
}

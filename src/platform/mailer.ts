import nodemailer, { type Transporter } from 'nodemailer';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
  attachments?: Array<{ filename: string; content: string; contentType?: string }>;
}

/**
 * Sends e-mail through the SMTP server of `SLIPWAY_SMTP_URL` (smtp:// or smtps://, with
 * credentials in the URL). Without one, sending fails: callers count it as a failed delivery.
 */
export class Mailer {
  private readonly transport?: Transporter;

  constructor(
    smtpUrl: string | undefined,
    private readonly from: string,
  ) {
    if (smtpUrl) {
      this.transport = nodemailer.createTransport({
        url: smtpUrl,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
      });
    }
  }

  async send(message: MailMessage): Promise<void> {
    if (!this.transport) throw new Error('no SMTP server is configured (SLIPWAY_SMTP_URL)');
    await this.transport.sendMail({ from: this.from, ...message });
  }
}

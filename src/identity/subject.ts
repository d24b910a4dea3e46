/** Who is asking: every policy question starts from one of these. */
export type Subject = { kind: 'anonymous' } | { kind: 'user'; id: string; name: string; superuser: boolean };

export const anonymous: Subject = { kind: 'anonymous' };

export const subjectName = (s: Subject): string => (s.kind === 'anonymous' ? '' : s.name);

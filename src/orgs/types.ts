export type Role = 'admin' | 'user';

/** Who is acting: every capability call carries one, and every query is scoped by its orgId. */
export interface Principal {
  userId: string;
  orgId: string;
  email: string;
  role: Role;
}

export interface UserView {
  id: string;
  orgId: string;
  email: string;
  name: string;
  role: Role;
  language: string;
  createdAt: string;
}

export interface OrgView {
  id: string;
  name: string;
  createdAt: string;
}

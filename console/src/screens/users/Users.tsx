// Users and API keys (admins): the users with their roles, a new user, a role changed,
// a user disabled or enabled again; every API key, a new one (its plaintext shown once),
// a key revoked.

import { useCallback, useEffect, useState } from "preact/hooks";
import { listUsers, type User } from "../../api/users";
import { ErrorNotice } from "../../components/ErrorNotice";
import { KeysSection } from "./KeysSection";
import { UsersSection } from "./UsersSection";
import "./users.css";

export default function Users() {
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const reload = useCallback(async (): Promise<void> => {
    try {
      // the API pages by at most 100; an admin's list of users is read whole
      const all: User[] = [];
      for (;;) {
        const page = await listUsers(all.length, 100);
        all.push(...page.items);
        if (!page.has_more || page.items.length === 0) break;
      }
      setUsers(all);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => void reload(), [reload]);
  return (
    <section class="screen" aria-labelledby="users-title">
      <h1 id="users-title">Users and API keys</h1>
      <ErrorNotice error={error} title="Users could not be read" />
      <UsersSection users={users} reload={reload} />
      <KeysSection users={users ?? []} />
    </section>
  );
}

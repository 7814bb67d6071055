// The users table (role, disabled) and the new-user form.

import { useState } from "preact/hooks";
import type { Role } from "../../api/types";
import { createUser, updateUser, type User } from "../../api/users";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";

const ROLES: readonly Role[] = ["viewer", "user", "admin"];

export function UsersSection({ users, reload }: { users: User[] | null; reload: () => Promise<void> }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const change = async (user: User, body: { role?: Role; disabled?: boolean }): Promise<void> => {
    setBusy(user.id);
    try {
      await updateUser(user.id, body);
      setError(null);
      await reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };
  return (
    <section aria-labelledby="users-list-title">
      <h2 id="users-list-title">Users</h2>
      <ErrorNotice error={error} title="The user could not be changed" />
      {users === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <div class="table-wrap">
          <table class="table users-table">
            <caption class="visually-hidden">Users</caption>
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Id</th>
                <th scope="col">Role</th>
                <th scope="col">Signs in with</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id} data-username={u.username}>
                  <th scope="row">{u.username}</th>
                  <td class="mono small">{u.id}</td>
                  <td>
                    <select
                      aria-label={`Role of ${u.username}`}
                      value={u.role}
                      disabled={busy === u.id}
                      onChange={(e) => void change(u, { role: e.currentTarget.value as Role })}
                    >
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>{u.has_password ? "password or keys" : "keys only"}</td>
                  <td>
                    <span data-disabled={String(u.disabled)}>{u.disabled ? "disabled" : "active"}</span>{" "}
                    <button
                      type="button"
                      class="button"
                      disabled={busy === u.id}
                      onClick={() => void change(u, { disabled: !u.disabled })}
                    >
                      {u.disabled ? `Enable ${u.username}` : `Disable ${u.username}`}
                    </button>
                  </td>
                  <td>{dateTime(u.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <NewUser reload={reload} />
    </section>
  );
}

function NewUser({ reload }: { reload: () => Promise<void> }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("user");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const user = await createUser(password ? { username, password, role } : { username, role });
      setDone(`Created ${user.username} (${user.id}).`);
      setError(null);
      setUsername("");
      setPassword("");
      await reload();
    } catch (err) {
      setError(err);
      setDone("");
    }
  };
  return (
    <form class="panel" aria-labelledby="new-user-title" onSubmit={(e) => void submit(e)}>
      <h3 id="new-user-title">New user</h3>
      <div class="field-row">
        <label class="field">
          <span>Username</span>
          <input required autocomplete="off" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Password (12 characters or more; empty: API keys only)</span>
          <input
            type="password"
            autocomplete="new-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>Role</span>
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNotice error={error} title="The user could not be created" />
      {done ? <p role="status">{done}</p> : null}
      <div class="button-row">
        <button type="submit" class="button primary">
          Create user
        </button>
      </div>
    </form>
  );
}

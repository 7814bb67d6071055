// The console's screens: one entry each. A screen with `nav` is a link in the header;
// the others are reached from links (a run's page from the runs list). `role` is the
// least role that may open it (viewer < user < admin); the header lists only what the
// signed-in role may open. A new screen (approvals, schedules, webhooks, workflow runs)
// is one more entry here and a folder under screens/.

import type { ComponentType } from "preact";
import { lazy } from "preact-iso";
import type { Role } from "./api/types";
import type { IconName } from "./components/Icon";

export interface Screen {
  /** A preact-iso route pattern: `/runs/:id` gives the screen `params.id`. */
  path: string;
  title: string;
  icon: IconName;
  role: Role;
  nav: boolean;
  component: ComponentType;
}

export const SCREENS: readonly Screen[] = [
  {
    path: "/chat",
    title: "Chat",
    icon: "chat",
    role: "user",
    nav: true,
    component: lazy(() => import("./screens/chat/Chat")),
  },
  {
    path: "/runs",
    title: "Runs",
    icon: "runs",
    role: "viewer",
    nav: true,
    component: lazy(() => import("./screens/runs/RunsList")),
  },
  {
    path: "/runs/:id",
    title: "Run",
    icon: "runs",
    role: "viewer",
    nav: false,
    component: lazy(() => import("./screens/runs/RunPage")),
  },
  {
    path: "/config",
    title: "Agents",
    icon: "system",
    role: "viewer",
    nav: true,
    component: lazy(() => import("./screens/config/ConfigList")),
  },
  {
    path: "/config/new/:type",
    title: "New component",
    icon: "system",
    role: "admin",
    nav: false,
    component: lazy(() => import("./screens/config/ComponentCreate")),
  },
  {
    path: "/config/:name",
    title: "Component",
    icon: "system",
    role: "viewer",
    nav: false,
    component: lazy(() => import("./screens/config/ComponentPage")),
  },
  {
    path: "/sessions",
    title: "Sessions",
    icon: "chat",
    role: "viewer",
    nav: true,
    component: lazy(() => import("./screens/sessions/SessionsList")),
  },
  {
    path: "/sessions/:id",
    title: "Session",
    icon: "chat",
    role: "viewer",
    nav: false,
    component: lazy(() => import("./screens/sessions/SessionPage")),
  },
  {
    path: "/knowledge",
    title: "Knowledge",
    icon: "link",
    role: "viewer",
    nav: true,
    component: lazy(() => import("./screens/knowledge/KnowledgeList")),
  },
  {
    path: "/knowledge/:name",
    title: "Knowledge base",
    icon: "link",
    role: "viewer",
    nav: false,
    component: lazy(() => import("./screens/knowledge/KnowledgeBasePage")),
  },
  {
    path: "/usage",
    title: "Metrics",
    icon: "runs",
    role: "viewer",
    nav: true,
    component: lazy(() => import("./screens/metrics/Metrics")),
  },
  {
    path: "/health",
    title: "Health",
    icon: "system",
    role: "viewer",
    nav: true,
    component: lazy(() => import("./screens/health/Health")),
  },
  {
    path: "/users",
    title: "Users",
    icon: "system",
    role: "admin",
    nav: true,
    component: lazy(() => import("./screens/users/Users")),
  },
  // --- approvals (issue 16)
  {
    path: "/approvals",
    title: "Approvals",
    icon: "check",
    role: "user",
    nav: true,
    component: lazy(() => import("./screens/approvals/Approvals")),
  },

  // --- webhooks
  {
    path: "/webhooks",
    title: "Webhooks",
    icon: "link",
    role: "user",
    nav: true,
    component: lazy(() => import("./screens/webhooks/Webhooks")),
  },

  // --- schedules
  {
    path: "/schedules",
    title: "Schedules",
    icon: "clock",
    role: "user",
    nav: true,
    component: lazy(() => import("./screens/schedules/Schedules")),
  },

];

/** The screen whose header link is current at `path` (a run's page belongs to Runs). */
export function sectionOf(path: string): Screen | undefined {
  return SCREENS.find((s) => s.nav && (path === s.path || path.startsWith(`${s.path}/`)));
}

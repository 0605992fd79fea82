/** Where the queue dashboard is mounted; apart from dashboard.ts so naming it does not load bull-board. */
export const DASHBOARD_PATH = '/admin/queues';

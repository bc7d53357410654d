import type { Area } from '../routes.ts'

export const access: Area = {
  routes: [],
  nav: []
}

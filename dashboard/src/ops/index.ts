import type { Area } from '../routes.ts'

export const ops: Area = {
  routes: [],
  nav: []
}

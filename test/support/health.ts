export { healthClient, type HealthClient } from "../../tools/health-client.js";

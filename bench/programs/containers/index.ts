import { containersScene } from "../scene";

// N containers in one budget (see ../scene.ts).
export default async () => containersScene(false);

import { containersScene } from "../scene";

// The same N containers, each on one Network: the cost of networking against the same run's plain create.
export default async () => containersScene(true);

// "Why this image", in plain words, from the `reason` of the `next` response (docs/api.md, "The next response").
import { fmt } from "./dom.js";

const STRATEGY_WORDS = {
  random: "picked at random (the baseline)",
  entropy: "where the segmentation model is least sure",
  diversity: "unlike the images already labeled (farthest point in depth-feature space)",
  difficulty: "where depth is hard to reproduce from the labels so far",
  "diversity+difficulty": "unlike what is labeled and hard for depth (the method)",
};

function ordinal(n) {
  const s = ["th", "st", "nd", "rd"];
  const v = n % 100;
  return `${n}${s[(v - 20) % 10] || s[v] || s[0]}`;
}

/** A list of sentences. */
export function reasonSentences(reason) {
  if (!reason) return ["It was queued directly (uploaded or imported with queue on), not chosen by a round."];
  const out = [];
  const pick = reason.rank === null ? "" : ` as its ${ordinal(reason.rank + 1)} pick`;
  const words = STRATEGY_WORDS[reason.strategy] || `by the “${reason.strategy}” strategy`;
  out.push(`Round ${reason.round_index} chose this image${pick}: ${words}.`);
  if (reason.distance !== null) {
    out.push(`Its distance to the nearest labeled or already chosen image is ${fmt(reason.distance)} ` +
      "(standardised depth features; larger means less like what is labeled).");
  } else if (reason.rank === 0) {
    out.push("It is the seed of the cold start: the first pick, before any distance could be measured.");
  }
  if (reason.difficulty !== null) {
    out.push(`Depth difficulty ${fmt(reason.difficulty)}: how badly a student trained on the labels ` +
      "reproduces the depth model here (higher is harder).");
  }
  if (reason.entropy !== null) out.push(`The model's uncertainty (mean entropy) here is ${fmt(reason.entropy)}.`);
  return out;
}

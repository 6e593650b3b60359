/**
 * 📸 outside a classroom room: the picture is kept on this phone only, as a download made here
 * from the video the server sends back (labels and outlines included). Nothing is sent to the
 * server, so nothing is stored there: only a class's photos go to a teacher's library.
 */

/** @param {Date} when @returns {string} a file name that sorts by time, e.g. photo-20260101-093000.jpg */
export function photoName(when) {
  const two = (n) => String(n).padStart(2, "0");
  const day = `${when.getFullYear()}${two(when.getMonth() + 1)}${two(when.getDate())}`;
  const time = `${two(when.getHours())}${two(when.getMinutes())}${two(when.getSeconds())}`;
  return `photo-${day}-${time}.jpg`;
}

/**
 * Save the video's current picture on this phone (a JPEG download).
 * @param {HTMLVideoElement} video
 * @returns {Promise<boolean>} true once the download has started; false with no picture yet
 */
export async function savePictureOnPhone(video) {
  const width = video.videoWidth;
  const height = video.videoHeight;
  if (!width || !height) return false;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  if (!context) return false;
  context.drawImage(video, 0, 0, width, height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
  if (!blob) return false;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = photoName(new Date());
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // the browser has the file once the click is handled; free the memory a little later
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return true;
}
